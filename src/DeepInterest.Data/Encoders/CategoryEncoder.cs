namespace DeepInterest.Data.Encoders;

/// <summary>
/// Maps raw category values to dense ids fitted on the training split: 0 = padding, 1 = unknown
/// (values unseen in training, or seen fewer than <see cref="MinCount"/> times), then 2, 3, … in
/// order of first appearance. Unseen values at prediction time map to unknown, never throw.
/// </summary>
public sealed class CategoryEncoder
{
    public const int Padding = 0, Unknown = 1;

    public CategoryEncoder(int minCount = 1) => MinCount = minCount >= 1 ? minCount : throw new ArgumentException($"min_count must be ≥ 1, got {minCount}.");

    public int MinCount { get; init; }

    /// <summary>Raw value → id (≥ 2). Serialized with the model.</summary>
    public Dictionary<string, int> Vocabulary { get; init; } = new();

    /// <summary>Table size: padding, unknown and every kept value.</summary>
    public int Size => Vocabulary.Count + 2;

    public CategoryEncoder Fit(IEnumerable<string> values)
    {
        var counts = new Dictionary<string, int>();
        var order = new List<string>();
        foreach (var v in values)
        {
            if (!counts.TryGetValue(v, out var c)) order.Add(v);
            counts[v] = c + 1;
        }
        Vocabulary.Clear();
        foreach (var v in order) if (counts[v] >= MinCount) Vocabulary[v] = Vocabulary.Count + 2;
        return this;
    }

    public int Encode(string value) => Vocabulary.TryGetValue(value, out var id) ? id : Unknown;
}
