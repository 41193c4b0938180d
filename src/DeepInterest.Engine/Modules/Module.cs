namespace DeepInterest.Engine.Modules;

/// <summary>
/// Base of every layer and model. Children, parameters and buffers are registered explicitly
/// under names, so the dotted keys of <see cref="StateDict"/> equal those of the PyTorch module
/// with the same structure (e.g. <c>attention.mlp.0.weight</c>).
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Tensor Tensor)> _parameters = new();
    private readonly List<(string Name, Tensor Tensor)> _buffers = new();
    private readonly List<(string Name, Module Module)> _children = new();

    private bool _training = true;
    [ThreadStatic] private static int _evaluatingDepth;

    /// <summary>
    /// Training mode (batch statistics, dropout) versus evaluation mode: the module's own flag
    /// (<see cref="Train"/>, <see cref="Eval"/>), unless the calling thread is inside
    /// <see cref="Evaluating"/>, where every module evaluates.
    /// </summary>
    public bool Training => _training && _evaluatingDepth == 0;

    /// <summary>
    /// Evaluation mode for every module on the calling thread until the scope is disposed, without
    /// touching any module's flag. A loaded model is shared by the threads that score with it, so
    /// scoring must never flip that shared flag: one thread's <c>Eval()</c>/<c>Train()</c> would
    /// change another thread's forward pass mid-call. Like <see cref="Autograd.Tape.NoGrad"/>, the
    /// scope belongs to the thread (and nests).
    /// </summary>
    public static EvaluatingScope Evaluating()
    {
        _evaluatingDepth++;
        return default;
    }

    /// <summary>Ends an <see cref="Evaluating"/> scope.</summary>
    public readonly struct EvaluatingScope : IDisposable
    {
        public void Dispose() => _evaluatingDepth--;
    }

    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        _children.Add((name, module));
        module.Train(_training);
        return module;
    }

    /// <summary>Registers a trainable tensor (marked RequiresGrad).</summary>
    protected Tensor RegisterParameter(string name, Tensor tensor)
    {
        CheckName(name);
        tensor.RequiresGrad = true;
        _parameters.Add((name, tensor));
        return tensor;
    }

    /// <summary>Registers state that is saved but not trained (running statistics).</summary>
    protected Tensor RegisterBuffer(string name, Tensor tensor)
    {
        CheckName(name);
        _buffers.Add((name, tensor));
        return tensor;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"Module member name '{name}' must be non-empty and contain no dots.");
        if (_parameters.Exists(p => p.Name == name) || _buffers.Exists(p => p.Name == name) || _children.Exists(p => p.Name == name))
            throw new ArgumentException($"Module member '{name}' is registered twice in {GetType().Name}.");
    }

    /// <summary>Direct children with their names.</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren() => _children;

    /// <summary>Every trainable tensor with its dotted name, depth-first in registration order.</summary>
    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters(string prefix = "")
    {
        foreach (var (n, t) in _parameters) yield return (prefix + n, t);
        foreach (var (n, m) in _children)
            foreach (var p in m.NamedParameters(prefix + n + ".")) yield return p;
    }

    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Parameter);

    /// <summary>Every buffer with its dotted name.</summary>
    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers(string prefix = "")
    {
        foreach (var (n, t) in _buffers) yield return (prefix + n, t);
        foreach (var (n, m) in _children)
            foreach (var b in m.NamedBuffers(prefix + n + ".")) yield return b;
    }

    /// <summary>Parameters and buffers by dotted name, parameters first within each module (PyTorch order).</summary>
    public IReadOnlyList<KeyValuePair<string, Tensor>> StateDict()
    {
        var list = new List<KeyValuePair<string, Tensor>>();
        Collect(this, "", list);
        return list;

        static void Collect(Module m, string prefix, List<KeyValuePair<string, Tensor>> list)
        {
            foreach (var (n, t) in m._parameters) list.Add(new(prefix + n, t));
            foreach (var (n, t) in m._buffers) list.Add(new(prefix + n, t));
            foreach (var (n, c) in m._children) Collect(c, prefix + n + ".", list);
        }
    }

    /// <summary>
    /// Copies values into this module's parameters and buffers. Strict (the default) refuses any
    /// missing or unexpected key and any shape mismatch, naming all of them; nothing is copied
    /// unless everything matches.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = StateDict();
        var ownKeys = new HashSet<string>(own.Select(kv => kv.Key));
        var missing = own.Where(kv => !state.ContainsKey(kv.Key)).Select(kv => kv.Key).ToList();
        var unexpected = state.Keys.Where(k => !ownKeys.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var wrongShape = own.Where(kv => state.TryGetValue(kv.Key, out var v) && v.Shape != kv.Value.Shape)
            .Select(kv => $"{kv.Key} (expected {kv.Value.Shape}, got {state[kv.Key].Shape})").ToList();
        var problems = new List<string>();
        if (strict && missing.Count > 0) problems.Add("missing keys: " + string.Join(", ", missing));
        if (strict && unexpected.Count > 0) problems.Add("unexpected keys: " + string.Join(", ", unexpected));
        if (wrongShape.Count > 0) problems.Add("shape mismatch: " + string.Join(", ", wrongShape));
        if (problems.Count > 0) throw new StateDictException(string.Join("; ", problems));
        foreach (var (k, t) in own)
            if (state.TryGetValue(k, out var v)) v.Span.CopyTo(t.Span);
    }

    /// <summary>Sets training mode on this module and all descendants.</summary>
    public virtual void Train(bool on = true)
    {
        _training = on;
        foreach (var (_, c) in _children) c.Train(on);
    }

    /// <summary>Evaluation mode (running statistics, no dropout).</summary>
    public void Eval() => Train(false);

    /// <summary>Clears the gradients of every parameter.</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p) in NamedParameters()) p.ZeroGrad();
    }

    /// <summary>Total number of trainable scalars.</summary>
    public long ParameterCount() => NamedParameters().Sum(p => (long)p.Parameter.Size);
}

/// <summary>A state dict that does not fit the module it is loaded into.</summary>
public sealed class StateDictException(string message) : Exception(message);
