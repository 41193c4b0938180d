namespace DeepInterest.Engine.Autograd;

/// <summary>
/// One recorded op. An op file defines a sealed subclass next to its forward function; the
/// subclass keeps what backward needs and adds the input gradients into the inputs' gradient
/// buffers (accumulate, never overwrite). Captured tensors must not be mutated after recording.
/// </summary>
public abstract class Node
{
    /// <summary>The tensor this node produced; backward is skipped when it received no gradient.</summary>
    public Tensor Output = null!;

    /// <summary>Adds d(loss)/d(input) into every input that requires a gradient.</summary>
    public abstract void Backward();

    internal abstract void Return();
}

/// <summary>
/// Base for op nodes with a per-thread free list, so recording an op allocates nothing after
/// warm-up. Obtain with <see cref="Rent"/>, fill the fields, then call <see cref="Tape.Record"/>.
/// </summary>
public abstract class Node<TSelf> : Node where TSelf : Node<TSelf>, new()
{
    [ThreadStatic] private static Stack<TSelf>? _pool;

    public static TSelf Rent()
    {
        var pool = _pool ??= new Stack<TSelf>();
        return pool.Count > 0 ? pool.Pop() : new TSelf();
    }

    /// <summary>Drops references held for backward; override to clear extra fields.</summary>
    protected virtual void Clear() { }

    internal sealed override void Return()
    {
        Clear();
        Output = null!;
        (_pool ??= new Stack<TSelf>()).Push((TSelf)this);
    }
}

/// <summary>
/// The per-thread record of differentiable ops in execution order. Backward walks it in reverse,
/// iteratively (no recursion, so a 50-step unrolled RNN is as safe as one op), then clears it.
/// </summary>
public static class Tape
{
    [ThreadStatic] private static List<Node>? _nodes;
    [ThreadStatic] private static int _noGradDepth;

    private static List<Node> Nodes => _nodes ??= new List<Node>(4096);

    /// <summary>True unless inside a <see cref="NoGrad"/> scope.</summary>
    public static bool GradEnabled => _noGradDepth == 0;

    /// <summary>Number of recorded nodes.</summary>
    public static int Count => _nodes?.Count ?? 0;

    /// <summary>True when an op on these inputs must be recorded.</summary>
    public static bool ShouldRecord(Tensor a) => _noGradDepth == 0 && a.RequiresGrad;
    public static bool ShouldRecord(Tensor a, Tensor b) => _noGradDepth == 0 && (a.RequiresGrad || b.RequiresGrad);
    public static bool ShouldRecord(Tensor a, Tensor b, Tensor? c) =>
        _noGradDepth == 0 && (a.RequiresGrad || b.RequiresGrad || (c?.RequiresGrad ?? false));

    public static bool ShouldRecordAny(IReadOnlyList<Tensor> inputs)
    {
        if (_noGradDepth != 0) return false;
        for (int i = 0; i < inputs.Count; i++) if (inputs[i].RequiresGrad) return true;
        return false;
    }

    /// <summary>Appends <paramref name="node"/>, marking <paramref name="output"/> as requiring a gradient.</summary>
    public static void Record(Node node, Tensor output)
    {
        var nodes = Nodes;
        node.Output = output;
        output.RequiresGrad = true;
        output.TapeIndex = nodes.Count;
        nodes.Add(node);
        if (Profiler.Enabled) Profiler.Recorded(node);
    }

    /// <summary>
    /// Seeds d(root)/d(root) (ones, or <paramref name="seed"/>) and runs every recorded node from
    /// the one that produced <paramref name="root"/> back to the first, then clears the tape.
    /// </summary>
    public static void Backward(Tensor root, Tensor? seed = null)
    {
        if (!root.RequiresGrad || root.TapeIndex < 0)
            throw new InvalidOperationException("Backward needs a tensor produced by recorded ops from inputs that require grad (is it inside NoGrad, or was backward already run?).");
        if (seed is null && root.Size != 1)
            throw new InvalidOperationException($"Backward without a seed needs a one-element tensor, got shape {root.Shape}.");
        if (seed is not null && seed.Shape != root.Shape)
            throw new ArgumentException($"Backward seed shape {seed.Shape} differs from tensor shape {root.Shape}.");

        var g = root.GradSpan();
        if (seed is null) g[0] += 1f;
        else System.Numerics.Tensors.TensorPrimitives.Add(g, seed.Span, g);

        var nodes = Nodes;
        for (int i = root.TapeIndex; i >= 0; i--)
        {
            var n = nodes[i];
            if (n.Output.Grad is null) continue;
            if (!Profiler.Enabled) n.Backward();
            else
            {
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                n.Backward();
                Profiler.Backward(n, System.Diagnostics.Stopwatch.GetTimestamp() - t0);
            }
        }
        Clear();
    }

    /// <summary>Forgets every recorded node (they return to their pools).</summary>
    public static void Clear()
    {
        var nodes = _nodes;
        if (nodes is null) return;
        foreach (var n in nodes)
        {
            n.Output.TapeIndex = -1;
            n.Return();
        }
        nodes.Clear();
    }

    /// <summary>Disables recording on this thread until disposed (inference).</summary>
    public static NoGradScope NoGrad()
    {
        _noGradDepth++;
        return default;
    }

    public readonly struct NoGradScope : IDisposable
    {
        public void Dispose() => _noGradDepth--;
    }
}
