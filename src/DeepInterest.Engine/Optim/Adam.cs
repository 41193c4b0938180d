namespace DeepInterest.Engine.Optim;

/// <summary>How an optimizer treats row-sparse embedding gradients.</summary>
public enum SparseMode
{
    /// <summary>Exactly PyTorch's dense semantics: untouched rows have gradient 0 but their state still decays and weight decay applies.</summary>
    Dense,
    /// <summary>Only rows present in the batch are updated (like torch.optim.SparseAdam); much faster for large vocabularies.</summary>
    Lazy,
}

/// <summary>Options of <see cref="Adam"/>: <c>torch.optim.Adam</c> (or AdamW with <paramref name="Decoupled"/>).</summary>
public sealed record AdamOptions(float Lr = 1e-3f, float Beta1 = 0.9f, float Beta2 = 0.999f, float Eps = 1e-8f,
    float WeightDecay = 0f, bool Decoupled = false, SparseMode Sparse = SparseMode.Dense)
{
    public AdamOptions Validate()
    {
        if (!(Lr > 0) || float.IsInfinity(Lr)) throw new ArgumentException($"Adam: lr must be a positive number, got {Lr}.");
        if (!(Beta1 >= 0 && Beta1 < 1)) throw new ArgumentException($"Adam: beta1 must be in [0, 1), got {Beta1}.");
        if (!(Beta2 >= 0 && Beta2 < 1)) throw new ArgumentException($"Adam: beta2 must be in [0, 1), got {Beta2}.");
        if (!(Eps > 0)) throw new ArgumentException($"Adam: eps must be positive, got {Eps}.");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"Adam: weight_decay must be ≥ 0, got {WeightDecay}.");
        return this;
    }
}

/// <summary>
/// Adam (Kingma &amp; Ba) with PyTorch 1.13's update, in this order per element:
/// g ← g + wd·p (L2; AdamW instead p ← p·(1 − lr·wd)); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
/// p ← p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε).
/// </summary>
public sealed class Adam : Optimizer
{
    private readonly AdamOptions _o;
    private readonly float[][] _m, _v;

    public Adam(IEnumerable<(string Name, Tensor Parameter)> parameters, AdamOptions options)
        : base(parameters, options.Validate().Lr)
    {
        _o = options;
        _m = Parameters.Select(p => new float[p.Parameter.Size]).ToArray();
        _v = Parameters.Select(p => new float[p.Parameter.Size]).ToArray();
    }

    public AdamOptions Options => _o;

    public override void Step()
    {
        StepCount++;
        float lr = LearningRate, b1 = _o.Beta1, b2 = _o.Beta2, eps = _o.Eps, wd = _o.WeightDecay;
        float bc1 = 1f - MathF.Pow(b1, StepCount), bc2 = 1f - MathF.Pow(b2, StepCount);
        float stepSize = lr / bc1, bc2Sqrt = MathF.Sqrt(bc2);
        for (int k = 0; k < Parameters.Count; k++)
        {
            var p = Parameters[k].Parameter;
            var sparse = p.SparseGrad is { Count: > 0 } sg ? sg : null;
            var dense = p.Grad;
            if (dense is null && sparse is null && _o.Sparse == SparseMode.Lazy) continue;
            if (dense is null && sparse is null && p.HasSparseGrad == false) continue;   // PyTorch skips params whose grad is None
            var ps = p.Span; var m = _m[k].AsSpan(); var v = _v[k].AsSpan();
            if (sparse is not null && dense is null && _o.Sparse == SparseMode.Lazy)
            {
                // Rows are independent: a large batch's rows split over threads, each updating its own.
                var job = new LazyRows
                {
                    P = p.Buffer, M = _m[k], V = _v[k], G = sparse, Size = p.Size, Decoupled = _o.Decoupled,
                    Lr = lr, B1 = b1, B2 = b2, Eps = eps, Wd = wd, StepSize = stepSize, Bc2Sqrt = bc2Sqrt,
                };
                Kernels.Par.For(sparse.Count, Math.Max(1, Kernels.Par.MinElementsPerPart / (3 * sparse.Width)), ref job);
                continue;
            }
            if (sparse is null)
            {
                if (dense is null) Update(ps, default, m, v, lr, b1, b2, eps, wd, stepSize, bc2Sqrt, _o.Decoupled);
                else Update(ps, dense.Span, m, v, lr, b1, b2, eps, wd, stepSize, bc2Sqrt, _o.Decoupled);
                continue;
            }
            // Dense semantics with a row-sparse gradient: every row moves; touched rows use their gradient.
            int width = sparse.Width, rows = p.Shape[0];
            for (int r = 0; r < rows; r++)
            {
                int off = r * width, slot = sparse.SlotOf(r);
                ReadOnlySpan<float> g = slot >= 0 ? sparse.Values(slot) : default;
                if (dense is not null)
                {
                    // Both kinds present: sum them into the sparse row (rare; exactness over speed).
                    if (slot >= 0) System.Numerics.Tensors.TensorPrimitives.Add(sparse.Values(slot), dense.Span.Slice(off, width), sparse.Values(slot));
                    else g = dense.Span.Slice(off, width);
                }
                Update(ps.Slice(off, width), g, m.Slice(off, width), v.Slice(off, width), lr, b1, b2, eps, wd, stepSize, bc2Sqrt, _o.Decoupled);
            }
        }
    }

    private const int PrefetchRows = 16;

    /// <summary>The lazy update of touched rows [start, end) of one table.</summary>
    private struct LazyRows : Kernels.IRangeKernel
    {
        public float[] P, M, V;
        public RowSparseGrad G;
        public int Size;
        public bool Decoupled;
        public float Lr, B1, B2, Eps, Wd, StepSize, Bc2Sqrt;

        public void Run(int start, int end)
        {
            int w = G.Width;
            var touched = G.Rows;
            var ps = P.AsSpan(0, Size); var m = M.AsSpan(0, Size); var v = V.AsSpan(0, Size);
            for (int s = start; s < end; s++)
            {
                // The rows are scattered over tables of many megabytes: fetching a few rows ahead
                // overlaps the cache misses that otherwise dominate this loop.
                if (s + PrefetchRows < end) Prefetch(ps, m, v, touched[s + PrefetchRows] * w, w);
                int off = touched[s] * w;
                Update(ps.Slice(off, w), G.Values(s), m.Slice(off, w), v.Slice(off, w), Lr, B1, B2, Eps, Wd, StepSize, Bc2Sqrt, Decoupled);
            }
        }
    }

    private static void Prefetch(Span<float> p, Span<float> m, Span<float> v, int off, int w)
    {
        Kernels.Simd.Prefetch(p, off, w); Kernels.Simd.Prefetch(m, off, w); Kernels.Simd.Prefetch(v, off, w);
    }

    /// <summary>One Adam update of a contiguous block; an empty <paramref name="grad"/> means a zero gradient.</summary>
    private static void Update(Span<float> p, ReadOnlySpan<float> grad, Span<float> m, Span<float> v,
        float lr, float b1, float b2, float eps, float wd, float stepSize, float bc2Sqrt, bool decoupled)
    {
        bool zero = grad.IsEmpty;
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated && !zero)
        {
            // Same operations in the same order as the scalar loop below (and as torch.optim.Adam).
            int w = System.Numerics.Vector<float>.Count;
            var vb1 = new System.Numerics.Vector<float>(b1); var vb1c = new System.Numerics.Vector<float>(1f - b1);
            var vb2 = new System.Numerics.Vector<float>(b2); var vb2c = new System.Numerics.Vector<float>(1f - b2);
            var vwd = new System.Numerics.Vector<float>(wd); var vdecay = new System.Numerics.Vector<float>(1f - lr * wd);
            var vbc = new System.Numerics.Vector<float>(bc2Sqrt); var veps = new System.Numerics.Vector<float>(eps);
            var vstep = new System.Numerics.Vector<float>(stepSize);
            for (; i <= p.Length - w; i += w)
            {
                var vp = new System.Numerics.Vector<float>(p[i..]);
                var g = new System.Numerics.Vector<float>(grad[i..]);
                if (wd != 0) { if (decoupled) vp *= vdecay; else g += vwd * vp; }
                var vm = new System.Numerics.Vector<float>(m[i..]) * vb1 + vb1c * g;
                var vv = new System.Numerics.Vector<float>(v[i..]) * vb2 + vb2c * g * g;
                vm.CopyTo(m[i..]); vv.CopyTo(v[i..]);
                vp -= vstep * (vm / (System.Numerics.Vector.SquareRoot(vv) / vbc + veps));
                vp.CopyTo(p[i..]);
            }
        }
        for (; i < p.Length; i++)
        {
            float g = zero ? 0f : grad[i];
            if (wd != 0)
            {
                if (decoupled) p[i] *= 1f - lr * wd;
                else g += wd * p[i];
            }
            m[i] = m[i] * b1 + (1f - b1) * g;
            v[i] = v[i] * b2 + (1f - b2) * g * g;
            float denom = MathF.Sqrt(v[i]) / bc2Sqrt + eps;
            p[i] -= stepSize * (m[i] / denom);
        }
    }

    public override IReadOnlyList<KeyValuePair<string, Tensor>> StateDict()
    {
        var list = new List<KeyValuePair<string, Tensor>>
        {
            new("step", Tensor.FromArray([StepCount], 1)),
            new("lr", Tensor.FromArray([LearningRate], 1)),
        };
        for (int k = 0; k < Parameters.Count; k++)
        {
            var shape = Parameters[k].Parameter.Shape;
            list.Add(new($"state.{Parameters[k].Name}.exp_avg", new Tensor(_m[k], shape)));
            list.Add(new($"state.{Parameters[k].Name}.exp_avg_sq", new Tensor(_v[k], shape)));
        }
        return list;
    }

    public override void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        var own = StateDict();
        var missing = own.Where(kv => !state.ContainsKey(kv.Key)).Select(kv => kv.Key).ToList();
        var ownKeys = own.Select(kv => kv.Key).ToHashSet();
        var unexpected = state.Keys.Where(k => !ownKeys.Contains(k)).ToList();
        var shape = own.Where(kv => state.TryGetValue(kv.Key, out var t) && t.Size != kv.Value.Size).Select(kv => kv.Key).ToList();
        if (missing.Count + unexpected.Count + shape.Count > 0)
            throw new Modules.StateDictException($"optimizer state does not match: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", unexpected)}], wrong size [{string.Join(", ", shape)}]");
        StepCount = (long)state["step"].Span[0];
        LearningRate = state["lr"].Span[0];
        for (int k = 0; k < Parameters.Count; k++)
        {
            state[$"state.{Parameters[k].Name}.exp_avg"].Span.CopyTo(_m[k]);
            state[$"state.{Parameters[k].Name}.exp_avg_sq"].Span.CopyTo(_v[k]);
        }
    }
}

/// <summary>Options of <see cref="Sgd"/> (<c>torch.optim.SGD</c>).</summary>
public sealed record SgdOptions(float Lr = 0.01f, float Momentum = 0f, float WeightDecay = 0f, bool Nesterov = false)
{
    public SgdOptions Validate()
    {
        if (!(Lr > 0)) throw new ArgumentException($"SGD: lr must be positive, got {Lr}.");
        if (!(Momentum >= 0)) throw new ArgumentException($"SGD: momentum must be ≥ 0, got {Momentum}.");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"SGD: weight_decay must be ≥ 0, got {WeightDecay}.");
        if (Nesterov && Momentum == 0) throw new ArgumentException("SGD: nesterov needs momentum > 0.");
        return this;
    }
}

/// <summary>
/// SGD as <c>torch.optim.SGD</c> (dampening 0): g ← g + wd·p; b ← g on the first step, else μb + g;
/// g ← g + μb (Nesterov) or b; p ← p − lr·g. Row-sparse gradients are applied to their rows only
/// when there is no momentum or weight decay (then it is exact); otherwise densely.
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly SgdOptions _o;
    private readonly float[]?[] _buf;

    public Sgd(IEnumerable<(string Name, Tensor Parameter)> parameters, SgdOptions options) : base(parameters, options.Validate().Lr)
    {
        _o = options;
        _buf = new float[Parameters.Count][];
    }

    public override void Step()
    {
        StepCount++;
        float lr = LearningRate;
        for (int k = 0; k < Parameters.Count; k++)
        {
            var p = Parameters[k].Parameter;
            var ps = p.Span;
            if (p.SparseGrad is { Count: > 0 } sg && _o.Momentum == 0 && _o.WeightDecay == 0)
            {
                for (int s = 0; s < sg.Count; s++)
                {
                    var row = ps.Slice(sg.Rows[s] * sg.Width, sg.Width);
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(sg.Values(s), -lr, row, row);
                }
                if (p.Grad is null) continue;
            }
            if (p.Grad is null && p.SparseGrad is not { Count: > 0 }) continue;
            var g = new float[p.Size];   // exact path for momentum/decay with sparse grads: clarity over speed
            if (p.Grad is not null) p.Grad.Span.CopyTo(g);
            if (p.SparseGrad is { Count: > 0 } sg2 && !(_o.Momentum == 0 && _o.WeightDecay == 0)) sg2.AddToDense(g);
            for (int i = 0; i < g.Length; i++)
            {
                float gi = g[i] + _o.WeightDecay * ps[i];
                if (_o.Momentum != 0)
                {
                    var b = _buf[k];
                    if (b is null) { b = _buf[k] = new float[p.Size]; b[i] = gi; }
                    else b[i] = _o.Momentum * b[i] + gi;
                    gi = _o.Nesterov ? gi + _o.Momentum * b[i] : b[i];
                }
                ps[i] -= lr * gi;
            }
        }
    }

    public override IReadOnlyList<KeyValuePair<string, Tensor>> StateDict()
    {
        var list = new List<KeyValuePair<string, Tensor>> { new("step", Tensor.FromArray([StepCount], 1)), new("lr", Tensor.FromArray([LearningRate], 1)) };
        for (int k = 0; k < Parameters.Count; k++)
            if (_buf[k] is { } b) list.Add(new($"state.{Parameters[k].Name}.momentum_buffer", new Tensor(b, Parameters[k].Parameter.Shape)));
        return list;
    }

    public override void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        if (!state.TryGetValue("step", out var step) || !state.TryGetValue("lr", out var lr))
            throw new Modules.StateDictException("optimizer state does not match: missing [step, lr]");
        StepCount = (long)step.Span[0];
        LearningRate = lr.Span[0];
        for (int k = 0; k < Parameters.Count; k++)
            if (state.TryGetValue($"state.{Parameters[k].Name}.momentum_buffer", out var b)) _buf[k] = b.ToArray();
    }
}
