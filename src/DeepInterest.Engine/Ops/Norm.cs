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
            // Two passes in double: a CTR batch has ~10⁴ rows and float sums of squares lose digits.
            Span<double> sum = c <= 512 ? stackalloc double[c] : new double[c];
            Span<double> sq = c <= 512 ? stackalloc double[c] : new double[c];
            sum.Clear(); sq.Clear();
            var mvals = mask is null ? default : mask.Values;
            for (int r = 0; r < rows; r++)
            {
                if (mask is not null && !mvals[r]) continue;
                n++;
                var xr = xs.Slice(r * c, c);
                for (int k = 0; k < c; k++) sum[k] += xr[k];
            }
            if (n == 0) { ms.Clear(); inv.Fill(1f / MathF.Sqrt(1f + eps)); }
            else
            {
                for (int k = 0; k < c; k++) sum[k] /= n;
                for (int r = 0; r < rows; r++)
                {
                    if (mask is not null && !mvals[r]) continue;
                    var xr = xs.Slice(r * c, c);
                    for (int k = 0; k < c; k++) { double d = xr[k] - sum[k]; sq[k] += d * d; }
                }
                var rm = runningMean.Span; var rv = runningVar.Span;
                for (int k = 0; k < c; k++)
                {
                    double var = sq[k] / n;
                    ms[k] = (float)sum[k];
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
            for (int r = 0; r < rows; r++)
            {
                if (M is not null && !mv[r]) continue;
                for (int k = 0; k < c; k++) { float g = gy[r * c + k]; sg[k] += g; sgx[k] += g * xh[r * c + k]; }
            }
            for (int k = 0; k < c; k++)
            {
                if (!gw.IsEmpty) gw[k] += (float)sgx[k];
                if (!gb.IsEmpty) gb[k] += (float)sg[k];
            }
            if (!X.RequiresGrad) return;
            var gx = X.GradSpan();
            var w = W is null ? default : W.Span;
            for (int r = 0; r < rows; r++)
            {
                if (M is not null && !mv[r]) continue;
                for (int k = 0; k < c; k++)
                {
                    float scale = inv[k] * (W is null ? 1f : w[k]);
                    float g = gy[r * c + k];
                    if (Training && Count > 0)
                        g -= (float)((sg[k] + xh[r * c + k] * sgx[k]) / Count);
                    gx[r * c + k] += scale * g;
                }
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
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < c; k++)
            {
                int i = r * c + k;
                ys[i] = xs[i] * (a[k] + ps[i] * (1f - a[k]));
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
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < c; k++)
                {
                    int i = r * c + k;
                    float g = gy[i], p = ps[i];
                    if (!gx.IsEmpty) gx[i] += g * (a[k] + p * (1f - a[k]));
                    if (!gz.IsEmpty) gz[i] += g * xs[i] * (1f - a[k]) * p * (1f - p);
                    if (!ga.IsEmpty) ga[k] += g * xs[i] * (1f - p);
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
