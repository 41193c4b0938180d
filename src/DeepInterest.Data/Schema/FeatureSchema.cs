using System.Text.Json;
using System.Text.Json.Serialization;

namespace DeepInterest.Data.Schema;

/// <summary>A feature definition error, phrased as one line that names the feature.</summary>
public sealed class SchemaException(string message) : Exception(message);

/// <summary>A categorical feature: one id per sample, looked up in embedding table <see cref="Table"/>.</summary>
public sealed record SparseFeature(string Name, string Table);

/// <summary>A numeric feature: one float per sample.</summary>
public sealed record DenseFeature(string Name);

/// <summary>A variable-length id sequence (behaviour history), at most <see cref="MaxLength"/> long, looked up in <see cref="Table"/>.</summary>
public sealed record SequenceFeature(string Name, string Table, int MaxLength);

/// <summary>
/// A user's behaviours divided into sessions (DSIN, §4.1): at most <see cref="MaxSessions"/> sessions,
/// oldest first, each holding at most <see cref="MaxLength"/> ids looked up in <see cref="Table"/>.
/// </summary>
public sealed record SessionFeature(string Name, string Table, int MaxSessions, int MaxLength);

/// <summary>Ties a target feature to a session feature of the same embedding dimension.</summary>
public sealed record SessionPair(string Target, string Sessions);

/// <summary>Session pairs whose embeddings are concatenated (item ‖ category) into one query and one session tensor.</summary>
public sealed record SessionGroup(string Name, IReadOnlyList<SessionPair> Pairs);

/// <summary>An embedding table shared by every feature that names it (e.g. target item and history items).</summary>
public sealed record EmbeddingTable(string Name, int Vocab, int Dim);

/// <summary>
/// Ties a target feature to its behaviour history (and, for DIEN, to a negative history); pairs of
/// one <see cref="AttentionGroup"/> are concatenated (item ‖ category, as in the DIN paper).
/// </summary>
public sealed record AttentionPair(string Target, string History, string? NegativeHistory = null);

/// <summary>Pairs whose embeddings are concatenated into one query and one key sequence.</summary>
public sealed record AttentionGroup(string Name, IReadOnlyList<AttentionPair> Pairs);

/// <summary>
/// The typed description of a CTR dataset's features. Validated on construction: every error names
/// the feature (unknown table, mismatched pair dimensions, duplicate names, bad lengths).
/// Serializable to JSON so it travels inside a saved model. Owns no parameters.
/// </summary>
public sealed record FeatureSchema
{
    public IReadOnlyList<EmbeddingTable> Tables { get; init; } = [];
    public IReadOnlyList<SparseFeature> Sparse { get; init; } = [];
    public IReadOnlyList<DenseFeature> Dense { get; init; } = [];
    public IReadOnlyList<SequenceFeature> Sequences { get; init; } = [];
    public IReadOnlyList<AttentionGroup> Groups { get; init; } = [];
    public IReadOnlyList<SessionFeature> Sessions { get; init; } = [];
    public IReadOnlyList<SessionGroup> SessionGroups { get; init; } = [];

    /// <summary>Checks the schema; throws <see cref="SchemaException"/> naming the first bad feature.</summary>
    public FeatureSchema Validate()
    {
        var tables = new Dictionary<string, EmbeddingTable>();
        foreach (var t in Tables)
        {
            if (!tables.TryAdd(t.Name, t)) throw new SchemaException($"table '{t.Name}': defined twice");
            if (t.Vocab < 2) throw new SchemaException($"table '{t.Name}': vocabulary must hold padding (0) and at least one id, got {t.Vocab}");
            if (t.Dim < 1) throw new SchemaException($"table '{t.Name}': embedding dimension must be positive, got {t.Dim}");
        }
        var names = new HashSet<string>();
        void Name(string n) { if (string.IsNullOrWhiteSpace(n) || !names.Add(n)) throw new SchemaException($"feature '{n}': duplicate or empty name"); }
        foreach (var s in Sparse)
        {
            Name(s.Name);
            if (!tables.ContainsKey(s.Table)) throw new SchemaException($"feature '{s.Name}': unknown embedding table '{s.Table}'");
        }
        foreach (var d in Dense) Name(d.Name);
        foreach (var q in Sequences)
        {
            Name(q.Name);
            if (!tables.ContainsKey(q.Table)) throw new SchemaException($"feature '{q.Name}': unknown embedding table '{q.Table}'");
            if (q.MaxLength < 1) throw new SchemaException($"feature '{q.Name}': a sequence needs a maximum length ≥ 1, got {q.MaxLength}");
        }
        foreach (var q in Sessions)
        {
            Name(q.Name);
            if (!tables.ContainsKey(q.Table)) throw new SchemaException($"feature '{q.Name}': unknown embedding table '{q.Table}'");
            if (q.MaxSessions < 1) throw new SchemaException($"feature '{q.Name}': a session feature needs a maximum number of sessions ≥ 1, got {q.MaxSessions}");
            if (q.MaxLength < 1) throw new SchemaException($"feature '{q.Name}': a session needs a maximum length ≥ 1, got {q.MaxLength}");
        }
        var groupNames = new HashSet<string>();
        void Group(string where, string name, int pairs, string duplicate)
        {
            if (!groupNames.Add(name)) throw new SchemaException($"{where}: {duplicate}");
            if (pairs == 0) throw new SchemaException($"{where}: has no pairs");
        }
        void SameDim(string where, string a, string tableA, string b, string tableB)
        {
            if (tables[tableA].Dim != tables[tableB].Dim)
                throw new SchemaException($"{where}: '{a}' has dimension {tables[tableA].Dim} but '{b}' has {tables[tableB].Dim}");
        }
        SparseFeature Target(string where, string name) =>
            Sparse.FirstOrDefault(s => s.Name == name) ?? throw new SchemaException($"{where}: target '{name}' is not a sparse feature");
        foreach (var g in Groups)
        {
            var where = $"attention group '{g.Name}'";
            Group(where, g.Name, g.Pairs.Count, "defined twice");
            foreach (var p in g.Pairs)
            {
                var target = Target(where, p.Target);
                var hist = Sequences.FirstOrDefault(s => s.Name == p.History) ?? throw new SchemaException($"{where}: history '{p.History}' is not a sequence feature");
                SameDim(where, p.Target, target.Table, p.History, hist.Table);
                if (p.NegativeHistory is { } neg)
                {
                    var n = Sequences.FirstOrDefault(s => s.Name == neg) ?? throw new SchemaException($"{where}: negative history '{neg}' is not a sequence feature");
                    SameDim(where, neg, n.Table, p.History, hist.Table);
                }
            }
        }
        foreach (var g in SessionGroups)
        {
            var where = $"session group '{g.Name}'";
            Group(where, g.Name, g.Pairs.Count, "a group of that name is already defined");
            SessionFeature? first = null;
            foreach (var p in g.Pairs)
            {
                var target = Target(where, p.Target);
                var sess = Sessions.FirstOrDefault(s => s.Name == p.Sessions) ?? throw new SchemaException($"{where}: '{p.Sessions}' is not a session feature");
                SameDim(where, p.Target, target.Table, p.Sessions, sess.Table);
                first ??= sess;
                if (sess.MaxSessions != first.MaxSessions || sess.MaxLength != first.MaxLength)
                    throw new SchemaException($"{where}: '{p.Sessions}' is {sess.MaxSessions}×{sess.MaxLength} but '{first.Name}' is {first.MaxSessions}×{first.MaxLength}");
            }
        }
        return this;
    }

    public EmbeddingTable Table(string name) => Tables.FirstOrDefault(t => t.Name == name) ?? throw new SchemaException($"table '{name}': not defined");
    public SparseFeature SparseFeature(string name) => Sparse.FirstOrDefault(s => s.Name == name) ?? throw new SchemaException($"feature '{name}': not a sparse feature");
    public SessionFeature Session(string name) => Sessions.FirstOrDefault(s => s.Name == name) ?? throw new SchemaException($"feature '{name}': not a session feature");
    public SequenceFeature Sequence(string name) => Sequences.FirstOrDefault(s => s.Name == name) ?? throw new SchemaException($"feature '{name}': not a sequence feature");

    /// <summary>True when <paramref name="sequence"/> is the (positive) history of an attention group.</summary>
    public bool IsHistory(string sequence) => Groups.Any(g => g.Pairs.Any(p => p.History == sequence));

    /// <summary>True when <paramref name="sequence"/> is used as a history or negative history of an attention group.</summary>
    public bool IsAttended(string sequence) => Groups.Any(g => g.Pairs.Any(p => p.History == sequence || p.NegativeHistory == sequence));

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static FeatureSchema FromJson(string json) =>
        (JsonSerializer.Deserialize<FeatureSchema>(json, Json) ?? throw new SchemaException("schema: empty JSON")).Validate();
}
