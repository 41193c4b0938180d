using System.Numerics.Tensors;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Kernels;

namespace DeepInterest.Engine;

public static partial class F
{
    /// <summary>
    /// Batch normalization with channels on the last axis, for x [N, C] or [B, T, C]:
    /// y = (x − μ)/√(σ² + ε)·γ + β. In training μ, σ² are the batch statistics (biased variance)
    /// over the real rows — every row, or with <paramref name="mask"/> [B, T] only real positions —
    /// and the running buffers move by <paramref name="momentum"/> toward μ and the unbiased
    /// variance (PyTorch semantics). In evaluation the running statistics are used.
    /// Masked rows are padding: they add nothing to the statistics, output zeros and pass no gradient. PyTorch's BatchNorm1d takes 3-D input as [N, C, L]; this is the
    /// same computation on the channels-last layout.
    /// </summary>
    public static Tensor BatchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor? weight, Tensor? bias,
        bool training, float momentum, float eps, Mask? mask = null)
    {
        int c = x.Shape.Last, rows = x.Shape.Rows;
        if (runningMean.Size != c || runningVar.Size != c || (weight is not null && weight.Size != c) || (bias is not null && bias.Size != c))
            throw new ArgumentException($"BatchNorm: input {x.Shape} has {c} channels; statistics and affine parameters must have {c}.");
        if (mask is not null)
        {
            if (x.Rank != 3) throw new ArgumentException($"BatchNorm: a mask needs [B, T, C] input, got {x.Shape}.");
            CheckMask(mask, x.Shape[0], x.Shape[1], "BatchNorm");
        }
        var (mean, invStd, n) = Statistics(x, runningMean, runningVar, training, momentum, eps, mask);
        var y = Tensor.Empty(x.Shape);
        bool record = Tape.ShouldRecord(x, weight ?? x, bias);
        var xhat = record ? Tensor.Empty(x.Shape) : null;
        var mbuf = mask?.Buffer;
        // y = x̂·γ + β with x̂ = (x − μ)·inv; x̂ is kept only for backward.
        var scale = weight;
        if (scale is null) { scale = Tensor.Empty(new Shape(c)); scale.Span.Fill(1f); }
        var shift = bias ?? Tensor.ZerosTemp(new Shape(c));
        var rowsK = new ChannelKernels.NormalizeRows
        {
            X = x.Buffer, Y = y.Buffer, Mean = mean.Buffer, Inv = invStd.Buffer, Scale = scale.Buffer, Shift = shift.Buffer,
            XHat = xhat?.Buffer, Mask = mbuf, C = c,
        };
        ChannelKernels.ForRows(rows, c, ref rowsK);
        if (record)
        {
            var node = BatchNormNode.Rent();
            node.X = x; node.W = weight; node.B = bias; node.XHat = xhat!; node.InvStd = invStd;
            node.Training = training; node.M = mask; node.Count = n;
            Tape.Record(node, y);
        }
        return y;
    }

    /// <summary>
    /// The mean and 1/√(σ² + ε) per channel a normalization uses: batch statistics over the real rows in
    /// training (and the running buffers updated), the running ones in evaluation; n = real rows.
    /// </summary>
    private static (Tensor Mean, Tensor InvStd, int N) Statistics(Tensor x, Tensor runningMean, Tensor runningVar, bool training, float momentum, float eps, Mask? mask)
    {
        int c = x.Shape.Last, rows = x.Shape.Rows;
        var mean = Tensor.Empty(new Shape(c));
        var invStd = Tensor.Empty(new Shape(c));
        var ms = mean.Span; var inv = invStd.Span;
        var mbuf = mask?.Buffer;
        int n = 0;
        if (training)
        {
            // Two passes (mean, then squared deviations): a CTR batch has ~10⁴ rows and one-pass
            // sums of squares lose digits. Float sums per 256-row block, blocks added in double.
            for (int r = 0; r < rows; r++) if (mbuf is null || mbuf[r]) n++;
            if (n == 0) { ms.Clear(); inv.Fill(1f / MathF.Sqrt(1f + eps)); }
            else
            {
                int blocks = ChannelKernels.Blocks(rows);
                var part = Tensor.Empty(new Shape(blocks, c));
                Span<double> sum = c <= 512 ? stackalloc double[c] : new double[c];
                Span<double> sq = c <= 512 ? stackalloc double[c] : new double[c];
                sum.Clear(); sq.Clear();
                var sums = new ChannelKernels.ColumnSums { X = x.Buffer, Part = part.Buffer, Mask = mbuf, Rows = rows, C = c };
                ChannelKernels.ForBlocks(rows, c, ref sums);
                ChannelKernels.CombineBlocks(part.Span, blocks, c, sum);
                for (int k = 0; k < c; k++) { sum[k] /= n; ms[k] = (float)sum[k]; }
                sums.Mean = mean.Buffer;
                ChannelKernels.ForBlocks(rows, c, ref sums);
                ChannelKernels.CombineBlocks(part.Span, blocks, c, sq);
                var rm = runningMean.Span; var rv = runningVar.Span;
                for (int k = 0; k < c; k++)
                {
                    double var = sq[k] / n;
                    inv[k] = (float)(1.0 / Math.Sqrt(var + eps));
                    rm[k] = (1 - momentum) * rm[k] + momentum * (float)sum[k];
                    rv[k] = (1 - momentum) * rv[k] + momentum * (float)(n > 1 ? sq[k] / (n - 1) : var);
                }
            }
        }
        else
        {
            runningMean.Span.CopyTo(ms);
            var rv = runningVar.Span;
            for (int k = 0; k < c; k++) inv[k] = 1f / MathF.Sqrt(rv[k] + eps);
        }
        return (mean, invStd, n);
    }

    /// <summary>dγ += Σ g·x̂ and dβ += Σ g (g: the gradient at the normalized output, summed over the real rows).</summary>
    private static void AddAffineGrads(Tensor? weight, Tensor? bias, ReadOnlySpan<double> sumG, ReadOnlySpan<double> sumGXHat)
    {
        if (weight is { RequiresGrad: true }) { var gw = weight.GradSpan(); for (int k = 0; k < gw.Length; k++) gw[k] += (float)sumGXHat[k]; }
        if (bias is { RequiresGrad: true }) { var gb = bias.GradSpan(); for (int k = 0; k < gb.Length; k++) gb[k] += (float)sumG[k]; }
    }

    /// <summary>
    /// Per-channel coefficients of the normalization's input gradient dx = scale ⊙ (g − a − x̂ ⊙ b):
    /// scale = γ/σ, and with batch statistics a = Σg/n, b = Σg·x̂/n (a = b = 0 in evaluation).
    /// </summary>
    private static (Tensor Scale, Tensor A, Tensor B) DxCoefficients(Tensor invStd, Tensor? weight, ReadOnlySpan<double> sumG, ReadOnlySpan<double> sumGXHat, bool stats, int count)
    {
        int c = invStd.Size;
        var scale = Tensor.Empty(new Shape(c)); var ca = Tensor.Empty(new Shape(c)); var cb = Tensor.Empty(new Shape(c));
        var ss = scale.Span; var cas = ca.Span; var cbs = cb.Span; var inv = invStd.Span;
        var w = weight is null ? default : weight.Span;
        for (int k = 0; k < c; k++)
        {
            ss[k] = inv[k] * (weight is null ? 1f : w[k]);
            cas[k] = stats ? (float)(sumG[k] / count) : 0f;
            cbs[k] = stats ? (float)(sumGXHat[k] / count) : 0f;
        }
        return (scale, ca, cb);
    }

    private sealed class BatchNormNode : Node<BatchNormNode>
    {
        public Tensor X = null!, XHat = null!, InvStd = null!;
        public Tensor? W, B;
        public Mask? M;
        public bool Training;
        public int Count;
        protected override void Clear() { X = XHat = InvStd = null!; W = B = null; M = null; }

        // Training: dx = (γ/σ)·(gy − mean(gy) − x̂·mean(gy·x̂)) over the real rows;
        // evaluation: dx = gy·γ/σ. dγ = Σ gy·x̂, dβ = Σ gy.
        public override void Backward()
        {
            int c = X.Shape.Last, rows = X.Shape.Rows, blocks = ChannelKernels.Blocks(rows);
            var mbuf = M?.Buffer;
            var partG = Tensor.Empty(new Shape(blocks, c)); var partGH = Tensor.Empty(new Shape(blocks, c));
            var sums = new ChannelKernels.GradSums { G = Output.Grad!.Buffer, XHat = XHat.Buffer, PartG = partG.Buffer, PartGH = partGH.Buffer, Mask = mbuf, Rows = rows, C = c };
            ChannelKernels.ForBlocks(rows, c, ref sums);
            Span<double> sg = c <= 512 ? stackalloc double[c] : new double[c];
            Span<double> sgx = c <= 512 ? stackalloc double[c] : new double[c];
            sg.Clear(); sgx.Clear();
            ChannelKernels.CombineBlocks(partG.Span, blocks, c, sg);
            ChannelKernels.CombineBlocks(partGH.Span, blocks, c, sgx);
            AddAffineGrads(W, B, sg, sgx);
            if (!X.RequiresGrad) return;
            X.GradSpan();
            var (scale, ca, cb) = DxCoefficients(InvStd, W, sg, sgx, Training && Count > 0, Count);
            var dx = new ChannelKernels.NormalizeBackwardRows { G = Output.Grad!.Buffer, XHat = XHat.Buffer, DX = X.Grad!.Buffer, Scale = scale.Buffer, A = ca.Buffer, Bv = cb.Buffer, Mask = mbuf, C = c };
            ChannelKernels.ForRows(rows, c, ref dx);
        }
    }

    /// <summary>
    /// Dice (DIN paper §4.3) as one op: y = x·(α + p·(1 − α)) = p·x + (1 − p)·α·x with p = σ(z) and
    /// z = (x − μ)/√(σ² + ε)·γ + β, the batch normalization of x (statistics, running buffers, mask and
    /// optional affine γ, β exactly as <see cref="BatchNorm"/>); α [C] is a learned slope per channel.
    /// x is [N, C] or [B, T, C]. Bit for bit the forward of <see cref="DiceGate"/> over <see cref="BatchNorm"/>, in
    /// fewer passes: z is never stored (backward recomputes x̂ from x), only p.
    /// </summary>
    public static Tensor Dice(Tensor x, Tensor runningMean, Tensor runningVar, Tensor? weight, Tensor? bias, Tensor alpha,
        bool training, float momentum, float eps, Mask? mask = null)
    {
        int c = x.Shape.Last, rows = x.Shape.Rows;
        if (runningMean.Size != c || runningVar.Size != c || (weight is not null && weight.Size != c) || (bias is not null && bias.Size != c) || alpha.Size != c)
            throw new ArgumentException($"Dice: input {x.Shape} has {c} channels; statistics, affine parameters and alpha must have {c}.");
        if (mask is not null)
        {
            if (x.Rank != 3) throw new ArgumentException($"Dice: a mask needs [B, T, C] input, got {x.Shape}.");
            CheckMask(mask, x.Shape[0], x.Shape[1], "Dice");
        }
        var (mean, invStd, n) = Statistics(x, runningMean, runningVar, training, momentum, eps, mask);
        var (scale, shift) = (weight, bias);
        if (scale is null) { scale = Tensor.Empty(new Shape(c)); scale.Span.Fill(1f); }
        shift ??= Tensor.ZerosTemp(new Shape(c));
        var oneMinusA = Tensor.Empty(new Shape(c));
        TensorPrimitives.Subtract(1f, alpha.Span, oneMinusA.Span);
        var y = Tensor.Empty(x.Shape);
        bool record = Tape.ShouldRecord(x, alpha, weight) || (bias is not null && Tape.ShouldRecord(bias));
        var p = record ? Tensor.Empty(x.Shape) : null;
        var k = new ChannelKernels.DiceRows
        {
            X = x.Buffer, Y = y.Buffer, P = p?.Buffer, Mean = mean.Buffer, Inv = invStd.Buffer, Scale = scale.Buffer, Shift = shift.Buffer,
            Alpha = alpha.Buffer, OneMinusAlpha = oneMinusA.Buffer, Mask = mask?.Buffer, C = c,
        };
        ChannelKernels.ForRows(rows, c, ref k);
        if (record)
        {
            var node = DiceNode.Rent();
            node.X = x; node.W = weight; node.B = bias; node.A = alpha; node.P = p!; node.Mean = mean; node.InvStd = invStd;
            node.Training = training; node.M = mask; node.Count = n;
            Tape.Record(node, y);
        }
        return y;
    }

    private sealed class DiceNode : Node<DiceNode>
    {
        public Tensor X = null!, A = null!, P = null!, Mean = null!, InvStd = null!;
        public Tensor? W, B;
        public Mask? M;
        public bool Training;
        public int Count;
        protected override void Clear() { X = A = P = Mean = InvStd = null!; W = B = null; M = null; }

        // With t = gy·x and u = ∂L/∂z = t·p(1 − p)(1 − α): dα = Σ t·(1 − p); dγ = Σ u·x̂, dβ = Σ u;
        // dx = gy·(α + p(1 − α)) + γ/σ·(u − a − x̂·b), a = Σu/n, b = Σu·x̂/n over the real rows in
        // training (a = b = 0 in evaluation); padded rows take the gate term only.
        public override void Backward()
        {
            int c = X.Shape.Last, rows = X.Shape.Rows, blocks = ChannelKernels.Blocks(rows);
            var mbuf = M?.Buffer;
            var oneMinusA = Tensor.Empty(new Shape(c));
            TensorPrimitives.Subtract(1f, A.Span, oneMinusA.Span);
            bool stats = Training && Count > 0;
            bool needU = stats || W is { RequiresGrad: true } || B is { RequiresGrad: true };
            var partU = needU ? Tensor.Empty(new Shape(blocks, c)) : null;
            var partUX = needU ? Tensor.Empty(new Shape(blocks, c)) : null;
            var partA = A.RequiresGrad ? Tensor.Empty(new Shape(blocks, c)) : null;
            Span<double> su = c <= 512 ? stackalloc double[c] : new double[c];
            Span<double> sux = c <= 512 ? stackalloc double[c] : new double[c];
            su.Clear(); sux.Clear();
            if (partU is not null || partA is not null)
            {
                var sums = new ChannelKernels.DiceGradSums
                {
                    G = Output.Grad!.Buffer, X = X.Buffer, P = P.Buffer, Mean = Mean.Buffer, Inv = InvStd.Buffer, OneMinusAlpha = oneMinusA.Buffer,
                    PartU = partU?.Buffer, PartUX = partUX?.Buffer, PartA = partA?.Buffer, Mask = mbuf, Rows = rows, C = c,
                };
                ChannelKernels.ForBlocks(rows, c, ref sums);
                if (partU is not null) { ChannelKernels.CombineBlocks(partU.Span, blocks, c, su); ChannelKernels.CombineBlocks(partUX!.Span, blocks, c, sux); }
                if (partA is not null) AddBlocks(partA.Span, blocks, c, A.GradSpan(), shared: false);
            }
            AddAffineGrads(W, B, su, sux);
            if (!X.RequiresGrad) return;
            X.GradSpan();
            var (scale, ca, cb) = DxCoefficients(InvStd, W, su, sux, stats, Count);
            var dx = new ChannelKernels.DiceBackwardRows
            {
                G = Output.Grad!.Buffer, X = X.Buffer, P = P.Buffer, Mean = Mean.Buffer, Inv = InvStd.Buffer, Alpha = A.Buffer, OneMinusAlpha = oneMinusA.Buffer,
                Scale = scale.Buffer, A = ca.Buffer, Bv = cb.Buffer, DX = X.Grad!.Buffer, Mask = mbuf, C = c,
            };
            ChannelKernels.ForRows(rows, c, ref dx);
        }
    }

    /// <summary>
    /// Dice's gate (DIN paper §4.3): y = p·x + (1 − p)·α·x with p = σ(z), where z is the
    /// batch-normalized x and α [C] a learned slope per channel (last axis).
    /// </summary>
    public static Tensor DiceGate(Tensor x, Tensor z, Tensor alpha)
    {
        int c = x.Shape.Last, rows = x.Shape.Rows;
        if (z.Shape != x.Shape || alpha.Size != c)
            throw new ArgumentException($"DiceGate: x {x.Shape}, normalized {z.Shape} and alpha {alpha.Shape} do not match.");
        var y = Tensor.Empty(x.Shape);
        bool record = Tape.ShouldRecord(x, z, alpha);
        var p = record ? Tensor.Empty(x.Shape) : null;         // inference computes p into y
        var oneMinusA = Tensor.Empty(new Shape(c));
        TensorPrimitives.Subtract(1f, alpha.Span, oneMinusA.Span);
        var k = new ChannelKernels.DiceGateRows { X = x.Buffer, Z = z.Buffer, Y = y.Buffer, Alpha = alpha.Buffer, OneMinusAlpha = oneMinusA.Buffer, P = p?.Buffer, C = c };
        ChannelKernels.ForRows(rows, c, ref k);
        if (record)
        {
            var n = DiceGateNode.Rent();
            n.X = x; n.Z = z; n.A = alpha; n.P = p!;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class DiceGateNode : Node<DiceGateNode>
    {
        public Tensor X = null!, Z = null!, A = null!, P = null!;
        protected override void Clear() { X = Z = A = P = null!; }

        // With t = gy·x: dx = gy·(α + p(1 − α)), dz = t·p(1 − p)(1 − α), dα = Σ t·(1 − p).
        public override void Backward()
        {
            int c = X.Shape.Last, rows = X.Shape.Rows, blocks = ChannelKernels.Blocks(rows);
            var oneMinusA = Tensor.Empty(new Shape(c));
            TensorPrimitives.Subtract(1f, A.Span, oneMinusA.Span);
            if (X.RequiresGrad) X.GradSpan();
            if (Z.RequiresGrad) Z.GradSpan();
            var part = A.RequiresGrad ? Tensor.Empty(new Shape(blocks, c)) : null;
            var k = new ChannelKernels.DiceBackwardBlocks
            {
                G = Output.Grad!.Buffer, X = X.Buffer, P = P.Buffer, Alpha = A.Buffer, OneMinusAlpha = oneMinusA.Buffer,
                DX = X.RequiresGrad ? X.Grad!.Buffer : null, DZ = Z.RequiresGrad ? Z.Grad!.Buffer : null, PartA = part?.Buffer, Rows = rows, C = c,
            };
            ChannelKernels.ForBlocks(rows, c, ref k);
            if (part is not null) AddBlocks(part.Span, blocks, c, A.GradSpan(), shared: false);
        }
    }

    /// <summary>grad[k] += Σ_b part[b, k] in block order (all channels into grad[0] when the slope is shared).</summary>
    private static void AddBlocks(ReadOnlySpan<float> part, int blocks, int c, Span<float> grad, bool shared)
    {
        for (int b = 0; b < blocks; b++)
            for (int k = 0; k < c; k++) grad[shared ? 0 : k] += part[b * c + k];
    }

    /// <summary>PReLU with one slope per channel (last axis) or one shared slope: y = max(0, x) + α·min(0, x).</summary>
    public static Tensor PRelu(Tensor x, Tensor alpha)
    {
        int c = x.Shape.Last, rows = x.Shape.Rows;
        if (alpha.Size != 1 && alpha.Size != c)
            throw new ArgumentException($"PRelu: alpha must have 1 or {c} elements for input {x.Shape}, got {alpha.Shape}.");
        var y = Tensor.Empty(x.Shape);
        var slopes = PerChannel(alpha, c);
        var k = new ChannelKernels.PReluRows { X = x.Buffer, Y = y.Buffer, Alpha = slopes.Buffer, C = c };
        ChannelKernels.ForRows(rows, c, ref k);
        if (Tape.ShouldRecord(x, alpha))
        {
            var n = PReluNode.Rent();
            n.X = x; n.A = alpha;
            Tape.Record(n, y);
        }
        return y;
    }

    /// <summary>The slopes as C values: alpha itself, or a shared slope repeated.</summary>
    private static Tensor PerChannel(Tensor alpha, int c)
    {
        if (alpha.Size == c) return alpha;
        var t = Tensor.Empty(new Shape(c));
        t.Span.Fill(alpha.Span[0]);
        return t;
    }

    private sealed class PReluNode : Node<PReluNode>
    {
        public Tensor X = null!, A = null!;
        protected override void Clear() { X = A = null!; }

        // dx = gy where x > 0, else α·gy; dα = Σ over x ≤ 0 of gy·x.
        public override void Backward()
        {
            int c = X.Shape.Last, rows = X.Shape.Rows, blocks = ChannelKernels.Blocks(rows);
            if (X.RequiresGrad) X.GradSpan();
            var part = A.RequiresGrad ? Tensor.Empty(new Shape(blocks, c)) : null;
            var k = new ChannelKernels.PReluBackwardBlocks
            {
                G = Output.Grad!.Buffer, X = X.Buffer, Alpha = PerChannel(A, c).Buffer,
                DX = X.RequiresGrad ? X.Grad!.Buffer : null, PartA = part?.Buffer, Rows = rows, C = c,
            };
            ChannelKernels.ForBlocks(rows, c, ref k);
            if (part is not null) AddBlocks(part.Span, blocks, c, A.GradSpan(), shared: A.Size != c);
        }
    }

    /// <summary>
    /// Inverted dropout: in training each element is zeroed with probability p and the rest are
    /// scaled by 1/(1 − p), drawing from <paramref name="rng"/>; identity when not training or p = 0.
    /// </summary>
    public static Tensor Dropout(Tensor x, float p, bool training, Rng rng)
    {
        if (p < 0 || p >= 1) throw new ArgumentOutOfRangeException(nameof(p), $"Dropout probability must be in [0, 1), got {p}.");
        if (!training || p == 0) return x;
        var mask = Tensor.Empty(x.Shape);
        var ms = mask.Span;
        float keep = 1f / (1f - p);
        for (int i = 0; i < ms.Length; i++) ms[i] = rng.NextFloat() < p ? 0f : keep;
        var y = Tensor.Empty(x.Shape);
        TensorPrimitives.Multiply(x.Span, ms, y.Span);
        if (Tape.ShouldRecord(x))
        {
            var n = DropoutNode.Rent();
            n.X = x; n.M = mask;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class DropoutNode : Node<DropoutNode>
    {
        public Tensor X = null!, M = null!;
        protected override void Clear() { X = M = null!; }

        public override void Backward()
        {
            if (!X.RequiresGrad) return;
            var gx = X.GradSpan();
            TensorPrimitives.MultiplyAdd(Output.Grad!.Span, M.Span, gx, gx);
        }
    }
}

public static partial class F
{
    /// <summary>
    /// Layer normalization over the last axis: y = (x − μ)/√(σ² + ε)·γ + β with μ, σ² (biased) per row.
    /// Backward: dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ.
    /// </summary>
    public static Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps = 1e-5f)
    {
        int c = x.Shape.Last, rows = x.Shape.Rows;
        if ((weight is not null && weight.Size != c) || (bias is not null && bias.Size != c))
            throw new ArgumentException($"LayerNorm: weight and bias must have {c} elements for input {x.Shape}.");
        var xhat = Tensor.Empty(x.Shape);
        var inv = Tensor.Empty(new Shape(rows));
        var y = Tensor.Empty(x.Shape);
        var xs = x.Span; var hs = xhat.Span; var ys = y.Span; var iv = inv.Span;
        for (int r = 0; r < rows; r++)
        {
            var xr = xs.Slice(r * c, c); var hr = hs.Slice(r * c, c); var yr = ys.Slice(r * c, c);
            double mean = 0, var = 0;
            foreach (var v in xr) mean += v;
            mean /= c;
            foreach (var v in xr) var += (v - mean) * (v - mean);
            var /= c;
            float s = (float)(1.0 / Math.Sqrt(var + eps));
            iv[r] = s;
            TensorPrimitives.Subtract(xr, (float)mean, hr);
            TensorPrimitives.Multiply(hr, s, hr);
            if (weight is not null) TensorPrimitives.Multiply(hr, weight.Span, yr); else hr.CopyTo(yr);
            if (bias is not null) TensorPrimitives.Add(yr, bias.Span, yr);
        }
        if (Tape.ShouldRecord(x, weight ?? x, bias))
        {
            var n = LayerNormNode.Rent();
            n.X = x; n.W = weight; n.B = bias; n.XHat = xhat; n.Inv = inv;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class LayerNormNode : Node<LayerNormNode>
    {
        public Tensor X = null!, XHat = null!, Inv = null!;
        public Tensor? W, B;
        protected override void Clear() { X = XHat = Inv = null!; W = B = null; }

        public override void Backward()
        {
            int c = X.Shape.Last, rows = X.Shape.Rows;
            var gy = Output.Grad!.Span; var hs = XHat.Span; var iv = Inv.Span;
            Span<float> gw = W is { RequiresGrad: true } ? W.GradSpan() : default;
            Span<float> gb = B is { RequiresGrad: true } ? B.GradSpan() : default;
            Span<float> gx = X.RequiresGrad ? X.GradSpan() : default;
            var w = W is null ? default : W.Span;
            for (int r = 0; r < rows; r++)
            {
                var g = gy.Slice(r * c, c); var h = hs.Slice(r * c, c);
                if (!gw.IsEmpty) TensorPrimitives.MultiplyAdd(g, h, gw, gw);
                if (!gb.IsEmpty) TensorPrimitives.Add(gb, g, gb);
                if (gx.IsEmpty) continue;
                double mg = 0, mgh = 0;
                for (int k = 0; k < c; k++)
                {
                    float gk = g[k] * (W is null ? 1f : w[k]);
                    mg += gk; mgh += gk * h[k];
                }
                mg /= c; mgh /= c;
                var d = gx.Slice(r * c, c);
                for (int k = 0; k < c; k++)
                {
                    float gk = g[k] * (W is null ? 1f : w[k]);
                    d[k] += iv[r] * (float)(gk - mg - h[k] * mgh);
                }
            }
        }
    }
}
