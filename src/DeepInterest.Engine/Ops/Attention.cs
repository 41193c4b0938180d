using System.Numerics;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Kernels;

namespace DeepInterest.Engine;

public static partial class F
{
    /// <summary>
    /// The per-behaviour input of DIN's activation unit once its first layer is split (DIN paper §4.3,
    /// Fig. 2): y[i] = [k_i, q_b ⊙ k_i] → [N, 2E] for the real behaviours i = rowStarts[b] … rowStarts[b+1] − 1
    /// of each batch row b, with k_i = keys[keyRows[i]] (keys [B, T, E] viewed as [B·T, E]) and q_b = query[b].
    /// One pass instead of two gathers, a product and a concatenation.
    /// Backward: dkeys[keyRows[i]] += dy_i[:E] + dy_i[E:] ⊙ q_b, dquery[b] += Σ_i dy_i[E:] ⊙ k_i.
    /// Split over threads by batch rows, so every sum has the same order for any thread count.
    /// <paramref name="keyRows"/> and <paramref name="rowStarts"/> must not change before backward.
    /// </summary>
    public static Tensor KeyFeatures(Tensor query, Tensor keys, int[] keyRows, int[] rowStarts)
    {
        int b = query.Shape[0], e = query.Shape.Last, r = keys.Shape.Rows;
        if (query.Rank != 2 || keys.Shape.Last != e) throw new ArgumentException($"KeyFeatures: needs query [B, E] and keys [.., E], got {query.Shape} and {keys.Shape}.");
        if (rowStarts.Length < b + 1 || rowStarts[0] != 0) throw new ArgumentException($"KeyFeatures: rowStarts needs {b + 1} offsets from 0.");
        int count = rowStarts[b];
        if (keyRows.Length < count) throw new ArgumentException($"KeyFeatures: {keyRows.Length} key rows for {count} behaviours.");
        for (int i = 0; i < count; i++)
            if ((uint)keyRows[i] >= (uint)r) throw new ArgumentException($"KeyFeatures: key row {keyRows[i]} outside [0, {r}).");
        var y = Tensor.Empty(new Shape(count, 2 * e));
        var k = new KeyFeaturesRows { Q = query.Buffer, K = keys.Buffer, G = y.Buffer, KeyRows = keyRows, Starts = rowStarts, E = e };
        Par.For(b, RowGrain(b, count, 2 * e), ref k);
        if (Tape.ShouldRecord(query, keys))
        {
            var n = KeyFeaturesNode.Rent();
            n.Q = query; n.K = keys; n.KeyRows = keyRows; n.Starts = rowStarts;
            Tape.Record(n, y);
        }
        return y;
    }

    /// <summary>
    /// z[i] = x[i] + p[b] for the rows i = rowStarts[b] … rowStarts[b+1] − 1 of x [N, H], p [B, H]: a
    /// per-batch-row term (the query's part of the split first layer) added to every behaviour of the row.
    /// Backward: dx += dz, dp[b] += Σ_i dz_i (by batch rows over threads).
    /// </summary>
    public static Tensor AddRowBroadcast(Tensor x, Tensor p, int[] rowStarts)
    {
        int b = p.Shape[0], h = p.Shape.Last;
        if (p.Rank != 2 || x.Shape.Last != h) throw new ArgumentException($"AddRowBroadcast: needs x [N, H] and p [B, H], got {x.Shape} and {p.Shape}.");
        if (rowStarts.Length < b + 1 || rowStarts[0] != 0 || rowStarts[b] != x.Shape.Rows)
            throw new ArgumentException($"AddRowBroadcast: rowStarts must run from 0 to {x.Shape.Rows} over {b} rows.");
        var z = Tensor.Empty(x.Shape);
        var k = new AddRowsKernel { X = x.Buffer, P = p.Buffer, Z = z.Buffer, Starts = rowStarts, H = h };
        Par.For(b, RowGrain(b, x.Shape.Rows, h), ref k);
        if (Tape.ShouldRecord(x, p))
        {
            var n = AddRowBroadcastNode.Rent();
            n.X = x; n.P = p; n.Starts = rowStarts;
            Tape.Record(n, z);
        }
        return z;
    }

    // Batch rows per part so that a part holds about 32K elements.
    private static int RowGrain(int batch, int count, int width) =>
        (int)Math.Clamp((long)Par.MinElementsPerPart * batch / Math.Max(1L, (long)count * width), 1, Math.Max(1, batch));

    /// <summary>Batch rows [start, end) of <see cref="KeyFeatures"/>: the forward pass, or (Backward) its gradients from G.</summary>
    private struct KeyFeaturesRows : IRangeKernel
    {
        public float[] Q, K, G;            // G: the output (forward) or its gradient (backward)
        public float[]? DQ, DK;
        public int[] KeyRows, Starts;
        public int E;
        public bool Backward;

        public void Run(int start, int end)
        {
            int e = E, w = Vector<float>.Count;
            for (int b = start; b < end; b++)
            {
                var q = Q.AsSpan(b * e, e);
                var dq = DQ is null ? default : DQ.AsSpan(b * e, e);
                for (int i = Starts[b]; i < Starts[b + 1]; i++)
                {
                    var g = G.AsSpan(i * 2 * e, 2 * e); var gk = g[..e]; var gp = g[e..];
                    var k = K.AsSpan(KeyRows[i] * e, e);
                    int j = 0;
                    if (!Backward)
                    {
                        k.CopyTo(gk);
                        for (; j <= e - w; j += w) (new Vector<float>(q[j..]) * new Vector<float>(k[j..])).CopyTo(gp[j..]);
                        for (; j < e; j++) gp[j] = q[j] * k[j];
                        continue;
                    }
                    var dk = DK is null ? default : DK.AsSpan(KeyRows[i] * e, e);
                    for (; j <= e - w; j += w)
                    {
                        var vgp = new Vector<float>(gp[j..]);
                        if (DK is not null) (new Vector<float>(dk[j..]) + new Vector<float>(gk[j..]) + vgp * new Vector<float>(q[j..])).CopyTo(dk[j..]);
                        if (DQ is not null) (new Vector<float>(dq[j..]) + vgp * new Vector<float>(k[j..])).CopyTo(dq[j..]);
                    }
                    for (; j < e; j++)
                    {
                        if (DK is not null) dk[j] += gk[j] + gp[j] * q[j];
                        if (DQ is not null) dq[j] += gp[j] * k[j];
                    }
                }
            }
        }
    }

    private sealed class KeyFeaturesNode : Node<KeyFeaturesNode>
    {
        public Tensor Q = null!, K = null!;
        public int[] KeyRows = null!, Starts = null!;
        protected override void Clear() { Q = K = null!; KeyRows = Starts = null!; }

        public override void Backward()
        {
            int b = Q.Shape[0], e = Q.Shape.Last;
            if (Q.RequiresGrad) Q.GradSpan();
            if (K.RequiresGrad) K.GradSpan();
            var k = new KeyFeaturesRows
            {
                Q = Q.Buffer, K = K.Buffer, G = Output.Grad!.Buffer, DQ = Q.RequiresGrad ? Q.Grad!.Buffer : null,
                DK = K.RequiresGrad ? K.Grad!.Buffer : null, KeyRows = KeyRows, Starts = Starts, E = e, Backward = true,
            };
            Par.For(b, RowGrain(b, Starts[b], 2 * e), ref k);
        }
    }

    private struct AddRowsKernel : IRangeKernel
    {
        public float[] X;
        public float[]? P, Z;
        public int[] Starts;
        public int H;
        public bool Backward;     // then X = dz, Z = dx (added to), P = dp (added to)

        public void Run(int start, int end)
        {
            int h = H, w = Vector<float>.Count;
            for (int b = start; b < end; b++)
            {
                var p = P is null ? default : P.AsSpan(b * h, h);
                for (int i = Starts[b]; i < Starts[b + 1]; i++)
                {
                    var x = X.AsSpan(i * h, h); var z = Z is null ? default : Z.AsSpan(i * h, h);
                    int j = 0;
                    if (!Backward)
                    {
                        for (; j <= h - w; j += w) (new Vector<float>(x[j..]) + new Vector<float>(p[j..])).CopyTo(z[j..]);
                        for (; j < h; j++) z[j] = x[j] + p[j];
                        continue;
                    }
                    for (; j <= h - w; j += w)
                    {
                        var g = new Vector<float>(x[j..]);
                        if (Z is not null) (new Vector<float>(z[j..]) + g).CopyTo(z[j..]);
                        if (P is not null) (new Vector<float>(p[j..]) + g).CopyTo(p[j..]);
                    }
                    for (; j < h; j++)
                    {
                        if (Z is not null) z[j] += x[j];
                        if (P is not null) p[j] += x[j];
                    }
                }
            }
        }
    }

    private sealed class AddRowBroadcastNode : Node<AddRowBroadcastNode>
    {
        public Tensor X = null!, P = null!;
        public int[] Starts = null!;
        protected override void Clear() { X = P = null!; Starts = null!; }

        public override void Backward()
        {
            int b = P.Shape[0], h = P.Shape.Last;
            if (X.RequiresGrad) X.GradSpan();
            if (P.RequiresGrad) P.GradSpan();
            var k = new AddRowsKernel
            {
                X = Output.Grad!.Buffer, Z = X.RequiresGrad ? X.Grad!.Buffer : null, P = P.RequiresGrad ? P.Grad!.Buffer : null,
                Starts = Starts, H = h, Backward = true,
            };
            Par.For(b, RowGrain(b, Starts[b], h), ref k);
        }
    }
}
