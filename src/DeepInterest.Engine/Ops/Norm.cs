using System.Numerics.Tensors;
using DeepInterest.Engine.Autograd;

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
        var mean = Tensor.Empty(new Shape(c));
        var invStd = Tensor.Empty(new Shape(c));
        var xhat = Tensor.Empty(x.Shape);
        var y = Tensor.Empty(x.Shape);
        var xs = x.Span; var ms = mean.Span; var inv = invStd.Span;
        int n = 0;
        if (training)
        {
            // Two passes (mean, then squared deviations): a CTR batch has ~10⁴ rows and one-pass
            // sums of squares lose digits.
            Span<double> sum = c <= 512 ? stackalloc double[c] : new double[c];
            Span<double> sq = c <= 512 ? stackalloc double[c] : new double[c];
            sum.Clear(); sq.Clear();
            var mvals = mask is null ? default : mask.Values;
            for (int r = 0; r < rows; r++) if (mask is null || mvals[r]) n++;
            if (n == 0) { ms.Clear(); inv.Fill(1f / MathF.Sqrt(1f + eps)); }
            else
            {
                var part = Tensor.Empty(new Shape(c)).Span;
                // Vectorized float sums over blocks of 256 rows, each block added in double.
                BlockedColumnSums(xs, rows, c, mvals, mask is not null, default, part, sum);
                for (int k = 0; k < c; k++) { sum[k] /= n; ms[k] = (float)sum[k]; }
                BlockedColumnSums(xs, rows, c, mvals, mask is not null, ms, part, sq);
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
        var xh = xhat.Span; var ys = y.Span;
        var mrow = mask is null ? default : mask.Values;
        for (int r = 0; r < rows; r++)
        {
            if (mask is not null && !mrow[r]) { xh.Slice(r * c, c).Clear(); ys.Slice(r * c, c).Clear(); continue; }
            var xr = xs.Slice(r * c, c); var hr = xh.Slice(r * c, c); var yr = ys.Slice(r * c, c);
            TensorPrimitives.Subtract(xr, ms, hr);
            TensorPrimitives.Multiply(hr, inv, hr);
            if (weight is not null) TensorPrimitives.Multiply(hr, weight.Span, yr); else hr.CopyTo(yr);
            if (bias is not null) TensorPrimitives.Add(yr, bias.Span, yr);
        }
        if (Tape.ShouldRecord(x, weight ?? x, bias))
        {
            var node = BatchNormNode.Rent();
            node.X = x; node.W = weight; node.B = bias; node.XHat = xhat; node.InvStd = invStd;
            node.Training = training; node.M = mask; node.Count = n;
            Tape.Record(node, y);
        }
        return y;
    }

    /// <summary>
    /// acc[k] += Σ_r v[r, k] over selected rows, with v = x (mean empty) or (x − mean)² — float vector
    /// sums per block of 256 rows, blocks added in double (fast, and accurate for 10⁴-row batches).
    /// </summary>
    private static void BlockedColumnSums(ReadOnlySpan<float> x, int rows, int c, ReadOnlySpan<bool> mask, bool masked,
        ReadOnlySpan<float> mean, Span<float> part, Span<double> acc)
    {
        Span<float> tmp = c <= 1024 ? stackalloc float[c] : new float[c];
        for (int r0 = 0; r0 < rows; r0 += 256)
        {
            part.Clear();
            int r1 = Math.Min(rows, r0 + 256);
            for (int r = r0; r < r1; r++)
            {
                if (masked && !mask[r]) continue;
                var xr = x.Slice(r * c, c);
                if (mean.IsEmpty) TensorPrimitives.Add(part, xr, part);
                else
                {
                    TensorPrimitives.Subtract(xr, mean, tmp);
                    TensorPrimitives.MultiplyAdd(tmp, tmp, part, part);
                }
            }
            for (int k = 0; k < c; k++) acc[k] += part[k];
        }
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
            int c = X.Shape.Last, rows = X.Shape.Rows;
            var gy = Output.Grad!.Span; var xh = XHat.Span; var inv = InvStd.Span;
            var mv = M is null ? default : M.Values;
            Span<float> gw = W is { RequiresGrad: true } ? W.GradSpan() : default;
            Span<float> gb = B is { RequiresGrad: true } ? B.GradSpan() : default;
            Span<double> sg = c <= 512 ? stackalloc double[c] : new double[c];
            Span<double> sgx = c <= 512 ? stackalloc double[c] : new double[c];
            sg.Clear(); sgx.Clear();
            var part = Tensor.Empty(new Shape(2 * c)).Span;
            for (int r0 = 0; r0 < rows; r0 += 256)
            {
                var p1 = part[..c]; var p2 = part[c..];
                p1.Clear(); p2.Clear();
                for (int r = r0; r < Math.Min(rows, r0 + 256); r++)
                {
                    if (M is not null && !mv[r]) continue;
                    var g = gy.Slice(r * c, c);
                    TensorPrimitives.Add(p1, g, p1);
                    TensorPrimitives.MultiplyAdd(g, xh.Slice(r * c, c), p2, p2);
                }
                for (int k = 0; k < c; k++) { sg[k] += p1[k]; sgx[k] += p2[k]; }
            }
            for (int k = 0; k < c; k++)
            {
                if (!gw.IsEmpty) gw[k] += (float)sgx[k];
                if (!gb.IsEmpty) gb[k] += (float)sg[k];
            }
            if (!X.RequiresGrad) return;
            var gx = X.GradSpan();
            // dx = scale ⊙ (gy − a − x̂ ⊙ b) with per-channel scale = γ/σ, a = Σgy/N, b = Σgy·x̂/N (training).
            var scale = Tensor.Empty(new Shape(c)).Span; var ca = Tensor.Empty(new Shape(c)).Span; var cb = Tensor.Empty(new Shape(c)).Span;
            var tmp = Tensor.Empty(new Shape(c)).Span;
            var w = W is null ? default : W.Span;
            for (int k = 0; k < c; k++)
            {
                scale[k] = inv[k] * (W is null ? 1f : w[k]);
                bool stats = Training && Count > 0;
                ca[k] = stats ? (float)(sg[k] / Count) : 0f;
                cb[k] = stats ? (float)(sgx[k] / Count) : 0f;
            }
            for (int r = 0; r < rows; r++)
            {
                if (M is not null && !mv[r]) continue;
                var d = gx.Slice(r * c, c);
                TensorPrimitives.Multiply(xh.Slice(r * c, c), cb, tmp);
                TensorPrimitives.Add(tmp, ca, tmp);
                TensorPrimitives.Subtract(gy.Slice(r * c, c), tmp, tmp);
                TensorPrimitives.MultiplyAdd(tmp, scale, d, d);
            }
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
        var p = Tensor.Empty(x.Shape);
        TensorPrimitives.Sigmoid(z.Span, p.Span);
        var xs = x.Span; var ps = p.Span; var a = alpha.Span; var ys = y.Span;
        var oneMinusA = Tensor.Empty(new Shape(c)).Span;
        TensorPrimitives.Subtract(1f, a, oneMinusA);
        for (int r = 0; r < rows; r++)
        {
            var yr = ys.Slice(r * c, c);
            TensorPrimitives.MultiplyAdd(ps.Slice(r * c, c), oneMinusA, a, yr);   // a + p(1 − a)
            TensorPrimitives.Multiply(yr, xs.Slice(r * c, c), yr);
        }
        if (Tape.ShouldRecord(x, z, alpha))
        {
            var n = DiceNode.Rent();
            n.X = x; n.Z = z; n.A = alpha; n.P = p;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class DiceNode : Node<DiceNode>
    {
        public Tensor X = null!, Z = null!, A = null!, P = null!;
        protected override void Clear() { X = Z = A = P = null!; }

        public override void Backward()
        {
            int c = X.Shape.Last, rows = X.Shape.Rows;
            var gy = Output.Grad!.Span; var xs = X.Span; var ps = P.Span; var a = A.Span;
            Span<float> gx = X.RequiresGrad ? X.GradSpan() : default;
            Span<float> gz = Z.RequiresGrad ? Z.GradSpan() : default;
            Span<float> ga = A.RequiresGrad ? A.GradSpan() : default;
            var oneMinusA = Tensor.Empty(new Shape(c)).Span;
            TensorPrimitives.Subtract(1f, a, oneMinusA);
            var t1 = Tensor.Empty(new Shape(c)).Span; var t2 = Tensor.Empty(new Shape(c)).Span;
            for (int r = 0; r < rows; r++)
            {
                var g = gy.Slice(r * c, c); var p = ps.Slice(r * c, c); var xv = xs.Slice(r * c, c);
                TensorPrimitives.Multiply(g, xv, t1);                                   // g·x
                if (!gx.IsEmpty) { TensorPrimitives.MultiplyAdd(p, oneMinusA, a, t2); var d = gx.Slice(r * c, c); TensorPrimitives.MultiplyAdd(g, t2, d, d); }
                if (!ga.IsEmpty) { TensorPrimitives.Subtract(1f, p, t2); TensorPrimitives.MultiplyAdd(t1, t2, ga, ga); }
                if (!gz.IsEmpty)
                {
                    TensorPrimitives.Subtract(1f, p, t2);
                    TensorPrimitives.Multiply(t2, p, t2);                              // p(1 − p)
                    TensorPrimitives.Multiply(t2, oneMinusA, t2);
                    var d = gz.Slice(r * c, c);
                    TensorPrimitives.MultiplyAdd(t1, t2, d, d);
                }
            }
        }
    }

    /// <summary>PReLU with one slope per channel (last axis) or one shared slope: y = max(0, x) + α·min(0, x).</summary>
    public static Tensor PRelu(Tensor x, Tensor alpha)
    {
        int c = x.Shape.Last, rows = x.Shape.Rows;
        if (alpha.Size != 1 && alpha.Size != c)
            throw new ArgumentException($"PRelu: alpha must have 1 or {c} elements for input {x.Shape}, got {alpha.Shape}.");
        var y = Tensor.Empty(x.Shape);
        var xs = x.Span; var a = alpha.Span; var ys = y.Span;
        bool shared = alpha.Size == 1;
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < c; k++)
            {
                int i = r * c + k;
                float v = xs[i];
                ys[i] = v > 0 ? v : (shared ? a[0] : a[k]) * v;
            }
        if (Tape.ShouldRecord(x, alpha))
        {
            var n = PReluNode.Rent();
            n.X = x; n.A = alpha;
            Tape.Record(n, y);
        }
        return y;
    }

    private sealed class PReluNode : Node<PReluNode>
    {
        public Tensor X = null!, A = null!;
        protected override void Clear() { X = A = null!; }

        public override void Backward()
        {
            int c = X.Shape.Last, rows = X.Shape.Rows;
            var gy = Output.Grad!.Span; var xs = X.Span; var a = A.Span;
            bool shared = A.Size == 1;
            Span<float> gx = X.RequiresGrad ? X.GradSpan() : default;
            Span<float> ga = A.RequiresGrad ? A.GradSpan() : default;
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < c; k++)
                {
                    int i = r * c + k;
                    float v = xs[i], g = gy[i];
                    if (!gx.IsEmpty) gx[i] += v > 0 ? g : (shared ? a[0] : a[k]) * g;
                    if (!ga.IsEmpty && v <= 0) ga[shared ? 0 : k] += g * v;
                }
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
