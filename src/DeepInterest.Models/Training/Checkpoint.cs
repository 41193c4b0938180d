using System.Text.Json;
using System.Text.Json.Serialization;
using DeepInterest.Engine;
using DeepInterest.Engine.IO;
using DeepInterest.Engine.Modules;
using DeepInterest.Engine.Optim;
using DeepInterest.Models.Metrics;
using DeepInterest.Models.Networks;

namespace DeepInterest.Models.Training;

/// <summary>A checkpoint folder that cannot be resumed, phrased as one line naming the folder.</summary>
public sealed class CheckpointException(string message) : Exception(message);

/// <summary>The trainer's state at the end of an epoch (<c>trainer.json</c>).</summary>
public sealed record CheckpointState
{
    public int FormatVersion { get; init; } = 1;
    /// <summary>Model options, schema and training options (except epochs and patience) that must match on resume.</summary>
    public string Fingerprint { get; init; } = "";
    public int Epoch { get; init; }
    public int BestEpoch { get; init; }
    public int SinceBest { get; init; }
    public EvalMetrics? BestMetrics { get; init; }
    public List<EpochResult> History { get; init; } = new();
    /// <summary>Epochs the batch source has started (its shuffling state).</summary>
    public ulong EpochCounter { get; init; }
    /// <summary>The state of every dropout module's random generator, by module path.</summary>
    public Dictionary<string, uint[]> RngStates { get; init; } = new();
    /// <summary>True when early stopping ended the run.</summary>
    public bool Stopped { get; init; }
}

/// <summary>Reads and writes the trainer's checkpoint folder (layout in docs/model-format.md).</summary>
public static class Checkpoint
{
    public const string StateFile = "trainer.json", LastFile = "last.safetensors", BestFile = "best.safetensors", OptimizerFile = "optimizer.safetensors";

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes weights, best weights (when given), optimizer state, then <c>trainer.json</c>, each atomically.</summary>
    public static void Save(string dir, CtrModel model, Optimizer optimizer, Dictionary<string, float[]>? best, CheckpointState state)
    {
        Directory.CreateDirectory(dir);
        SafeTensors.Save(Path.Combine(dir, LastFile), model.StateDict());
        if (best is not null)
            SafeTensors.Save(Path.Combine(dir, BestFile), model.StateDict().Select(kv => KeyValuePair.Create(kv.Key, Tensor.FromArray(best[kv.Key], kv.Value.Shape))));
        SafeTensors.Save(Path.Combine(dir, OptimizerFile), optimizer.StateDict());
        AtomicFile.WriteAllText(Path.Combine(dir, StateFile), JsonSerializer.Serialize(state, Json));
    }

    /// <summary>Restores the last weights and the optimizer from <paramref name="dir"/> and returns the trainer state.</summary>
    public static CheckpointState Load(string dir, CtrModel model, Optimizer optimizer, string fingerprint)
    {
        var statePath = Path.Combine(dir, StateFile);
        if (!File.Exists(statePath)) throw new CheckpointException($"{dir}: no {StateFile}; not a checkpoint folder (train --out DIR writes DIR/checkpoint)");
        CheckpointState state;
        try { state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath), Json) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new CheckpointException($"{statePath}: damaged ({e.Message.Split('.')[0]})"); }
        if (state.FormatVersion != 1) throw new CheckpointException($"{statePath}: format version {state.FormatVersion} is not supported");
        if (state.Fingerprint != fingerprint)
            throw new CheckpointException($"{dir}: the checkpoint was written for other model options, features or training options; resume with the config of that run (only epochs and patience may change)");
        try
        {
            model.LoadStateDict(SafeTensors.Load(Path.Combine(dir, LastFile)));
            optimizer.LoadStateDict(SafeTensors.Load(Path.Combine(dir, OptimizerFile)));
        }
        catch (Exception e) when (e is SafeTensorsException or StateDictException or FileNotFoundException or ArgumentException)
        {
            throw new CheckpointException($"{dir}: {e.Message}");
        }
        return state;
    }

    /// <summary>The best epoch's weights from <paramref name="dir"/>, checked against the model's names and shapes.</summary>
    public static Dictionary<string, float[]> LoadBest(string dir, CtrModel model)
    {
        Dictionary<string, Tensor> t;
        try { t = SafeTensors.Load(Path.Combine(dir, BestFile)); }
        catch (Exception e) when (e is SafeTensorsException or FileNotFoundException) { throw new CheckpointException($"{dir}: {e.Message}"); }
        var snap = new Dictionary<string, float[]>();
        foreach (var (k, p) in model.StateDict())
        {
            if (!t.TryGetValue(k, out var v) || v.Shape != p.Shape) throw new CheckpointException($"{dir}/{BestFile}: tensor '{k}' is missing or has another shape");
            snap[k] = v.ToArray();
        }
        return snap;
    }

    /// <summary>The random state of every dropout module, keyed by its path in the module tree.</summary>
    public static Dictionary<string, uint[]> RngStates(Module model)
    {
        var d = new Dictionary<string, uint[]>();
        foreach (var (path, m) in Walk(model, ""))
            if (m is Dropout drop) d[path] = drop.Rng.GetState();
        return d;
    }

    public static void SetRngStates(Module model, Dictionary<string, uint[]> states)
    {
        foreach (var (path, m) in Walk(model, ""))
            if (m is Dropout drop)
            {
                if (!states.TryGetValue(path, out var s)) throw new CheckpointException($"checkpoint has no random state for dropout '{path}'");
                drop.Rng.SetState(s);
            }
    }

    private static IEnumerable<(string Path, Module Module)> Walk(Module m, string prefix)
    {
        yield return (prefix, m);
        foreach (var (name, child) in m.NamedChildren())
            foreach (var x in Walk(child, prefix.Length == 0 ? name : prefix + "." + name)) yield return x;
    }
}
