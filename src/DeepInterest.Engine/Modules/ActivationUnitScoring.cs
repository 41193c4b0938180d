using System.Numerics.Tensors;
using DeepInterest.Engine.Kernels;

namespace DeepInterest.Engine.Modules;

public sealed partial class ActivationUnit
{
    /// <summary>Behaviours per tile of the fused scoring pass: a tile's activations stay in the core's cache through every layer.</summary>
    private const int Tile = 256;

    [ThreadStatic] private static float[][]? _tileBuffers;   // three tiles per thread

    /// <summary>
    /// The evaluation-mode forward without gradients (scoring): the same arithmetic as the layered
    /// forward — the split first layer, each layer's GEMM, BatchNorm with running statistics, the
    /// activation, then fc — run tile by tile over the real behaviours, so no [N, H] intermediate is
    /// written to memory and no op is dispatched per layer. Per element it calls the same kernels
    /// in the same order as the layered path, so scores agree with it bit for bit whenever that
    /// path's GEMMs take their packed kernel (every batch but the smallest).
    /// </summary>
    private Tensor ScoreFused(Tensor query, Tensor keys, int count, Tensor wKey, Tensor qTerm, int[] keyRows, int[] rowStarts)
    {
        int b = keys.Shape[0], t = keys.Shape[1], e = query.Shape[1];
        var layers = Mlp.Layers;
        var plan = new LayerPlan[layers.Count + 1];
        int widest = 2 * e;
        for (int i = 0; i < layers.Count; i++)
        {
            var l = layers[i];
            var w = i == 0 ? wKey : l.Linear.Weight;
            plan[i] = LayerPlan.For(w, i == 0 ? null : l.Linear.Bias, l);
            widest = Math.Max(widest, plan[i].Out);
        }
        plan[^1] = LayerPlan.For(Fc.Weight, Fc.Bias, null);
        var scores = Tensor.Zeros(new Shape(b, t));
        var k = new ScoreTiles
        {
            Q = query.Buffer, K = keys.Buffer, QTerm = qTerm.Buffer, Out = scores.Buffer, KeyRows = keyRows, RowStarts = rowStarts,
            B = b, E = e, Count = count, Widest = widest, Plan = plan,
        };
        Par.For((count + Tile - 1) / Tile, 1, ref k);
        return scores;
    }

    /// <summary>One layer for scoring: its weight (packed once when the CPU has the packed kernel), bias, and what follows the GEMM.</summary>
    private sealed class LayerPlan
    {
        public Tensor W = null!;
        public Tensor? Bias;
        public Gemm.PackedMatrix? Packed;
        public int In, Out;
        public Activation Act;
        public float[]? NormMean, NormInv, NormScale, NormShift;   // the layer's BatchNorm, running statistics
        public float[]? DiceMean, DiceInv, DiceScale, DiceShift;   // Dice's own BatchNorm
        public float[]? Alpha, OneMinusAlpha;                      // Dice α, 1 − α, or PReLU slopes per channel

        public static LayerPlan For(Tensor w, Tensor? bias, MlpLayer? layer)
        {
            int o = w.Shape[0], i = w.Shape[1];
            var p = new LayerPlan
            {
                W = w, Bias = bias, In = i, Out = o, Act = layer?.Kind ?? Activation.None,
                Packed = Gemm.CanPack(o, i) ? Gemm.Pack(true, o, i, w.Span, i, Tensor.Empty(new Shape(Gemm.PackedSize(o, i))).Buffer) : null,
            };
            if (layer?.Norm is { } bn) (p.NormMean, p.NormInv, p.NormScale, p.NormShift) = Eval(bn, o);
            if (layer?.Act is Dice dice)
            {
                (p.DiceMean, p.DiceInv, p.DiceScale, p.DiceShift) = Eval(dice.Bn, o);
                p.Alpha = dice.Alpha.Buffer;
                p.OneMinusAlpha = Tensor.Empty(new Shape(o)).Buffer;
                TensorPrimitives.Subtract(1f, dice.Alpha.Span, p.OneMinusAlpha.AsSpan(0, o));
            }
            if (layer?.Act is PRelu prelu)
            {
                p.Alpha = Tensor.Empty(new Shape(o)).Buffer;
                if (prelu.Weight.Size == o) prelu.Weight.Span.CopyTo(p.Alpha);
                else p.Alpha.AsSpan(0, o).Fill(prelu.Weight.Span[0]);
            }
            return p;
        }

        /// <summary>BatchNorm in evaluation as F.BatchNorm computes it: mean, 1/√(var + ε), γ (or 1), β (or 0).</summary>
        private static (float[], float[], float[], float[]) Eval(BatchNorm1d bn, int c)
        {
            var inv = Tensor.Empty(new Shape(c)).Buffer;
            var rv = bn.RunningVar.Span;
            for (int k = 0; k < c; k++) inv[k] = 1f / MathF.Sqrt(rv[k] + bn.Eps);
            var scale = bn.Weight?.Buffer ?? Filled(c, 1f);
            var shift = bn.Bias?.Buffer ?? Filled(c, 0f);
            return (bn.RunningMean.Buffer, inv, scale, shift);
        }

        private static float[] Filled(int c, float v)
        {
            var a = Tensor.Empty(new Shape(c)).Buffer;
            a.AsSpan(0, c).Fill(v);
            return a;
        }
    }

    /// <summary>Tiles [start, end) of the real behaviours through every layer (see <see cref="ScoreFused"/>).</summary>
    private struct ScoreTiles : IRangeKernel
    {
        public float[] Q, K, QTerm, Out;
        public int[] KeyRows, RowStarts;
        public int B, E, Count, Widest;
        public LayerPlan[] Plan;

        public void Run(int start, int end)
        {
            int e = E, size = Tile * Widest;
            // Two tile buffers per thread, input and output of a layer (the channel kernels index rows from the start of an array).
            var bufs = _tileBuffers is { } t && t[0].Length >= size ? t : (_tileBuffers = [new float[size], new float[size]]);
            for (int tile = start; tile < end; tile++)
            {
                int i0 = tile * Tile, n = Math.Min(Count, i0 + Tile) - i0;
                int row = Array.BinarySearch(RowStarts, 0, B + 1, i0);           // batch row of the tile's first behaviour
                if (row < 0) row = ~row - 1;
                while (RowStarts[row + 1] <= i0) row++;
                var feats = bufs[0];
                for (int i = 0, r = row; i < n; i++)
                {
                    while (RowStarts[r + 1] <= i0 + i) r++;
                    var key = K.AsSpan(KeyRows[i0 + i] * e, e);
                    key.CopyTo(feats.AsSpan(i * 2 * e, e));
                    TensorPrimitives.Multiply(Q.AsSpan(r * e, e), key, feats.AsSpan(i * 2 * e + e, e));   // [k, q⊙k], as F.KeyFeatures
                }
                int cur = 0;
                for (int l = 0; l < Plan.Length; l++)
                {
                    var p = Plan[l];
                    int o = 1 - cur;
                    var x = bufs[cur].AsSpan(0, n * p.In); var y = bufs[o].AsSpan(0, n * p.Out);
                    var bias = p.Bias is null ? default : p.Bias.Span;
                    if (p.Packed is { } pw) Gemm.SgemmPacked(n, pw, 1f, x, p.In, 0f, y, p.Out, bias);
                    else Gemm.Sgemm(false, true, n, p.Out, p.In, 1f, x, p.In, p.W.Span, p.In, 0f, y, p.Out, bias);
                    if (l == 0)
                        for (int i = 0, r = row; i < n; i++)
                        {
                            while (RowStarts[r + 1] <= i0 + i) r++;
                            var yi = y.Slice(i * p.Out, p.Out);
                            TensorPrimitives.Add(yi, QTerm.AsSpan(r * p.Out, p.Out), yi);               // the query's part, as F.AddRowBroadcast
                        }
                    cur = o;
                    if (p.NormMean is not null)
                    {
                        var bn = new ChannelKernels.NormalizeRows { X = bufs[cur], Y = bufs[cur], Mean = p.NormMean, Inv = p.NormInv!, Scale = p.NormScale!, Shift = p.NormShift!, C = p.Out };
                        bn.Run(0, n);
                    }
                    switch (p.Act)
                    {
                        case Activation.Dice:
                            var dice = new ChannelKernels.DiceRows
                            {
                                X = bufs[cur], Y = bufs[cur], Mean = p.DiceMean!, Inv = p.DiceInv!, Scale = p.DiceScale!, Shift = p.DiceShift!,
                                Alpha = p.Alpha!, OneMinusAlpha = p.OneMinusAlpha!, C = p.Out,
                            };
                            dice.Run(0, n);
                            break;
                        case Activation.PRelu:
                            var pr = new ChannelKernels.PReluRows { X = bufs[cur], Y = bufs[cur], Alpha = p.Alpha!, C = p.Out };
                            pr.Run(0, n);
                            break;
                        case Activation.Relu: TensorPrimitives.Max(bufs[cur].AsSpan(0, n * p.Out), 0f, bufs[cur].AsSpan(0, n * p.Out)); break;
                        case Activation.Sigmoid: TensorPrimitives.Sigmoid(bufs[cur].AsSpan(0, n * p.Out), bufs[cur].AsSpan(0, n * p.Out)); break;
                        case Activation.Tanh: TensorPrimitives.Tanh(bufs[cur].AsSpan(0, n * p.Out), bufs[cur].AsSpan(0, n * p.Out)); break;
                    }
                }
                var scores = bufs[cur];
                for (int i = 0; i < n; i++) Out[KeyRows[i0 + i]] = scores[i];   // fc has one output
            }
        }
    }
}
