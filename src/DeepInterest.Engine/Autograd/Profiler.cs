using System.Diagnostics;

namespace DeepInterest.Engine.Autograd;

/// <summary>
/// Per-op time, by node type, for the bench's profile. Forward time of an op is the time since the
/// previous op was recorded (ops run one after another on the calling thread), backward time is
/// measured around each node's Backward. Off by default; when off it costs one branch per op.
/// </summary>
public static class Profiler
{
    private static readonly Dictionary<Type, (long Forward, long Backward, long Calls)> Times = new();
    private static readonly Dictionary<string, (long Forward, long Backward, long Calls)> Sections = new();
    private static long _last;

    public static bool Enabled { get; private set; }

    public static void Start()
    {
        Times.Clear();
        Sections.Clear();
        Enabled = true;
        _last = Stopwatch.GetTimestamp();
    }

    public static void Stop() => Enabled = false;

    /// <summary>Marks the start of a step, so time spent outside ops is not charged to the first op.</summary>
    public static void Mark() => _last = Stopwatch.GetTimestamp();

    internal static void Recorded(Node node)
    {
        long now = Stopwatch.GetTimestamp();
        var t = node.GetType();
        Times.TryGetValue(t, out var v);
        Times[t] = (v.Forward + now - _last, v.Backward, v.Calls + 1);
        _last = now;
    }

    internal static void Backward(Node node, long ticks)
    {
        var t = node.GetType();
        Times.TryGetValue(t, out var v);
        Times[t] = (v.Forward, v.Backward + ticks, v.Calls);
    }

    /// <summary>A timestamp for <see cref="Section"/> (0 when profiling is off, so ops pay one branch).</summary>
    internal static long Now() => Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>
    /// Charges the time since <paramref name="start"/> to a named part of an op (listed after the ops,
    /// indented; its time is also inside its op's) and returns the start of the next part.
    /// </summary>
    internal static long Section(string name, long start, bool backward)
    {
        if (!Enabled) return 0;
        long now = Stopwatch.GetTimestamp();
        Sections.TryGetValue(name, out var v);
        Sections[name] = backward ? (v.Forward, v.Backward + now - start, v.Calls + 1) : (v.Forward + now - start, v.Backward, v.Calls + 1);
        return now;
    }

    /// <summary>(op, forward ms, backward ms, calls) sorted by total time, as totals since Start.</summary>
    public static IReadOnlyList<(string Op, double ForwardMs, double BackwardMs, long Calls)> Report() =>
        Times.Select(kv => (kv.Key.Name.Replace("Node", ""), kv.Value.Forward * 1e3 / Stopwatch.Frequency, kv.Value.Backward * 1e3 / Stopwatch.Frequency, kv.Value.Calls))
            .OrderByDescending(r => r.Item2 + r.Item3)
            .Concat(Sections.Select(kv => ("  " + kv.Key, kv.Value.Forward * 1e3 / Stopwatch.Frequency, kv.Value.Backward * 1e3 / Stopwatch.Frequency, kv.Value.Calls))
                .OrderBy(r => r.Item1))
            .ToList();
}
