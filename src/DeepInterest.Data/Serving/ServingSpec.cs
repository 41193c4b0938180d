using System.Text.Json;
using System.Text.Json.Serialization;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Readers;

namespace DeepInterest.Data.Serving;

/// <summary>Where a model feature's ids or value come from in a <see cref="RankRequest"/>.</summary>
public enum FeatureSource
{
    /// <summary>The raw user id, through <see cref="FeatureRule.Vocabulary"/> (sparse).</summary>
    User,
    /// <summary>A raw profile field (<see cref="FeatureRule.Field"/>): through a vocabulary (sparse) or a numeric transform (dense).</summary>
    Profile,
    /// <summary>The candidate item: its id, or its ids in <see cref="FeatureRule.Attribute"/> (sparse: the first; sequence: the list).</summary>
    Candidate,
    /// <summary>The history's item ids, oldest first, the most recent <see cref="ServingSpec.MaxHistory"/>; mapped through the attribute if one is named.</summary>
    History,
    /// <summary>DSIN sessions cut from the whole history with <see cref="ServingSpec.Sessions"/>; mapped through the attribute if one is named.</summary>
    Sessions,
    /// <summary>Nothing at serving time: id 0, value 0, length 0 — DIEN's negative histories, which only feed the training-time auxiliary loss.</summary>
    Empty,
}

/// <summary>How one model feature is filled from a request (one rule per feature of the model's schema).</summary>
/// <param name="Feature">the schema feature's name</param>
/// <param name="Source">what it is read from</param>
/// <param name="Vocabulary">User/Profile sparse features: the vocabulary that maps the raw value</param>
/// <param name="Field">Profile: the raw field name (the request's profile key, the raw file's column)</param>
/// <param name="Attribute">Candidate/History/Sessions: an item attribute (<see cref="ServingSpec.ItemAttributes"/>) instead of the item id</param>
/// <param name="Numeric">Profile dense features: the transform in <see cref="ServingSpec.Numeric"/></param>
public sealed record FeatureRule(string Feature, FeatureSource Source, string? Vocabulary = null, string? Field = null, string? Attribute = null, string? Numeric = null);

/// <summary>
/// The protocol's session rule (DSIN, <see cref="DinProtocol.SessionStarts"/>): a gap longer than
/// <see cref="GapSeconds"/> starts a session; the last <see cref="MaxSessions"/> sessions are kept,
/// oldest first, each with its most recent <see cref="SessionLength"/> behaviours.
/// </summary>
public sealed record SessionRule(int MaxSessions, int SessionLength, long GapSeconds);

/// <summary>The raw file layout <c>predict</c>, <c>evaluate</c> and <c>explain</c> read for a model (<see cref="ServingSpec.ReadFile"/>).</summary>
public enum RawFileFormat
{
    /// <summary>A CSV with header columns user, item, time and an optional label: one row per behaviour or impression.</summary>
    BehaviourLog,
    /// <summary>The seed tutorial's CSV (train.csv/test.csv columns), encoded as in training.</summary>
    MovielensSeed,
}

/// <summary>
/// Raw values by id (index = id) with the id that raw values outside it map to. The values at the
/// padding id 0 and at <see cref="Unknown"/> are null.
/// </summary>
public sealed class ServingVocabulary
{
    private Dictionary<string, int>? _ids;

    [JsonConstructor]
    public ServingVocabulary(int unknown, IReadOnlyList<string?> values)
    {
        Unknown = unknown;
        Values = values;
    }

    /// <summary>The id of a raw value the training data never numbered: 1 for fitted encoders (<see cref="Encoders.CategoryEncoder.Unknown"/>), 0 (padding, a zero embedding) for DIN-protocol logs.</summary>
    public int Unknown { get; }

    /// <summary>Raw value of every id (index = id; null where an id has none).</summary>
    public IReadOnlyList<string?> Values { get; }

    private Dictionary<string, int> Ids
    {
        get
        {
            if (_ids is { } d) return d;
            d = new Dictionary<string, int>(Values.Count, StringComparer.Ordinal);
            for (int i = 0; i < Values.Count; i++) if (Values[i] is { } v) d.TryAdd(v, i);
            return _ids = d;                          // a benign race: every thread builds the same map
        }
    }

    public bool TryEncode(string raw, out int id) => Ids.TryGetValue(raw, out id);

    /// <summary>The id of <paramref name="raw"/>, or <see cref="Unknown"/> (null included).</summary>
    public int Encode(string? raw) => raw is not null && Ids.TryGetValue(raw, out int id) ? id : Unknown;

    /// <summary>The raw value of <paramref name="id"/>, or null where the id has none.</summary>
    public string? Raw(int id) => (uint)id < (uint)Values.Count ? Values[id] : null;
}

/// <summary>Per item id (index), the ids an item attribute holds (its category; its genres), looked up in <see cref="Vocabulary"/>.</summary>
public sealed record ItemAttribute(string Vocabulary, IReadOnlyList<int[]> Ids)
{
    /// <summary>The attribute of item <paramref name="item"/> (empty when the item has none or is unknown).</summary>
    public ReadOnlySpan<int> Of(int item) => (uint)item < (uint)Ids.Count ? Ids[item] : [];
}

/// <summary>
/// Everything that turns raw values into a model's rows, saved as <see cref="FileName"/> in the model
/// folder: the raw → id vocabularies the protocol numbered (users, items, categories; for
/// movielens_seed its fitted encoders), per-item attributes (item → category; movielens_seed: item →
/// genres), numeric transforms (movielens_seed: the training ages' empirical CDF), item display
/// names, the history cap and session rule, and one <see cref="FeatureRule"/> per model feature saying
/// where it comes from. <see cref="Encode"/> is generic over the rules, so a new protocol only builds
/// a spec (see <see cref="ForDinProtocol"/>, <see cref="MovieLensSeed.Load"/>).
/// Unknown raw ids are not errors: they map to <see cref="ServingVocabulary.Unknown"/>, the id an
/// unseen value had in training.
/// </summary>
public sealed partial class ServingSpec
{
    /// <summary>The file name in a model folder (and in a <c>prepare</c> cache).</summary>
    public const string FileName = "serving.json";

    /// <summary>The format this build writes and reads.</summary>
    public const int Version = 1;

    [JsonPropertyOrder(-10)] public int FormatVersion { get; init; } = Version;

    /// <summary>The data protocol that built the model's data (ml1m_din, amazon_din, behaviour_log, movielens_seed).</summary>
    [JsonPropertyOrder(-9)] public required string Protocol { get; init; }

    /// <summary>The raw file layout <see cref="ReadFile"/> reads for this model.</summary>
    [JsonPropertyOrder(-8)] public RawFileFormat RawFile { get; init; }

    /// <summary>The flat history cap: the most recent behaviours a row keeps.</summary>
    [JsonPropertyOrder(-7)] public int MaxHistory { get; init; }

    /// <summary>The session rule (DSIN models), else null.</summary>
    [JsonPropertyOrder(-6)] public SessionRule? Sessions { get; init; }

    /// <summary>The vocabulary of candidate and behaviour item ids.</summary>
    [JsonPropertyOrder(-5)] public string ItemVocabulary { get; init; } = "item";

    /// <summary>Where every model feature comes from.</summary>
    [JsonPropertyOrder(-4)] public IReadOnlyList<FeatureRule> Features { get; init; } = [];

    [JsonPropertyOrder(-3)] public IReadOnlyDictionary<string, float[]> Numeric { get; init; } = new Dictionary<string, float[]>();

    [JsonPropertyOrder(-2)] public IReadOnlyDictionary<string, ServingVocabulary> Vocabularies { get; init; } = new Dictionary<string, ServingVocabulary>();

    [JsonPropertyOrder(-1)] public IReadOnlyDictionary<string, ItemAttribute> ItemAttributes { get; init; } = new Dictionary<string, ItemAttribute>();

    /// <summary>Display names by raw item id (MovieLens titles), where the data has them.</summary>
    public IReadOnlyDictionary<string, string> ItemNames { get; init; } = new Dictionary<string, string>();

    /// <summary>The raw profile fields a request must carry, in rule order (empty for DIN-protocol models).</summary>
    [JsonIgnore]
    public IReadOnlyList<string> ProfileFields => Features.Where(f => f.Source == FeatureSource.Profile).Select(f => f.Field!).Distinct().ToList();

    private ServingVocabulary Items => Vocabularies[ItemVocabulary];

    /// <summary>The raw id of encoded item <paramref name="id"/> ("(unknown)", "(padding)" or "#id" where it has none).</summary>
    public string RawItem(int id) => Label(Items, id);

    /// <summary>A display name of the raw item (a MovieLens title), or null where the data has none.</summary>
    public string? ItemName(string rawItem) => ItemNames.GetValueOrDefault(rawItem);

    /// <summary>The raw value behind id <paramref name="id"/> of model feature <paramref name="feature"/> (through its rule's vocabulary; "#id" when the feature has none).</summary>
    public string RawValue(string feature, int id) => VocabularyOf(feature) is { } v ? Label(Vocabularies[v], id) : $"#{id}";

    /// <summary>As <see cref="RawValue"/>, followed by the item's display name when the feature holds item ids and the item has one: "1193 One Flew Over the Cuckoo's Nest (1975)".</summary>
    public string Describe(string feature, int id)
    {
        var raw = RawValue(feature, id);
        return VocabularyOf(feature) == ItemVocabulary && ItemName(raw) is { } name ? $"{raw} {name}" : raw;
    }

    /// <summary>The vocabulary whose ids feature <paramref name="feature"/> holds, or null (dense and empty features, or no rule).</summary>
    public string? VocabularyOf(string feature)
    {
        var r = Features.FirstOrDefault(f => f.Feature == feature);
        return r?.Source switch
        {
            FeatureSource.User or FeatureSource.Profile => r.Vocabulary,
            FeatureSource.Candidate or FeatureSource.History or FeatureSource.Sessions =>
                r.Attribute is null ? ItemVocabulary : ItemAttributes.TryGetValue(r.Attribute, out var a) ? a.Vocabulary : null,
            _ => null,
        };
    }

    private static string Label(ServingVocabulary v, int id) =>
        v.Raw(id) ?? (id == v.Unknown ? "(unknown)" : id == 0 ? "(padding)" : $"#{id}");

    // ---------------------------------------------------------------- file

    private static readonly JsonSerializerOptions Json = new()
    {
        // The file is read by programs and people, never embedded in HTML: keep titles and ids
        // readable ("Amélie", "Schindler's List") instead of \u-escaping them.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>
    /// Writes the spec to <paramref name="path"/> atomically (a temporary file in the same folder,
    /// then a rename), so a reader never sees half a file.
    /// </summary>
    public void Save(string path)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                JsonSerializer.Serialize(fs, this, Json);
                fs.Flush(true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Reads a spec; a missing file, bad JSON, another format version or rules that do not hold together are one-line <see cref="DataFormatException"/>s naming the file.</summary>
    public static ServingSpec Load(string path)
    {
        if (!File.Exists(path)) throw new DataFormatException($"{path}: file not found");
        return FromJson(File.ReadAllText(path), path);
    }

    /// <summary>As <see cref="Load"/>, from text; <paramref name="source"/> names it in errors.</summary>
    public static ServingSpec FromJson(string json, string source)
    {
        ServingSpec? spec;
        try
        {
            // The version first: a newer format may have members this build would call unknown.
            using (var doc = JsonDocument.Parse(json))
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new DataFormatException($"{source}: expected a JSON object");
                if (!doc.RootElement.TryGetProperty("format_version", out var v) || !v.TryGetInt32(out int version))
                    throw new DataFormatException($"{source}: format_version is missing");
                if (version != Version) throw new DataFormatException($"{source}: format_version {version} is not supported (this build reads {Version})");
            }
            spec = JsonSerializer.Deserialize<ServingSpec>(json, Json);
        }
        catch (JsonException e) { throw new DataFormatException($"{source}: not a valid serving spec: {e.Message.Split('\n')[0]}"); }
        if (spec is null) throw new DataFormatException($"{source}: not a valid serving spec: empty");
        try { return spec.Validate(); }
        catch (InvalidOperationException e) { throw new DataFormatException($"{source}: {e.Message}"); }
    }

    /// <summary>Checks that every rule names what it needs and that those exist; throws <see cref="InvalidOperationException"/> naming the rule.</summary>
    public ServingSpec Validate()
    {
        if (string.IsNullOrEmpty(Protocol)) throw new InvalidOperationException("protocol is missing");
        if (MaxHistory < 1) throw new InvalidOperationException($"max_history must be ≥ 1, got {MaxHistory}");
        if (!Vocabularies.ContainsKey(ItemVocabulary)) throw new InvalidOperationException($"item_vocabulary '{ItemVocabulary}' is not one of the vocabularies");
        if (Sessions is { } s && (s.MaxSessions < 1 || s.SessionLength < 1 || s.GapSeconds < 0))
            throw new InvalidOperationException($"sessions: need max_sessions ≥ 1, session_length ≥ 1 and gap_seconds ≥ 0, got {s}");
        foreach (var (name, a) in ItemAttributes)
            if (!Vocabularies.ContainsKey(a.Vocabulary)) throw new InvalidOperationException($"item attribute '{name}': vocabulary '{a.Vocabulary}' is not defined");
        var seen = new HashSet<string>();
        foreach (var f in Features)
        {
            var where = $"feature rule '{f.Feature}'";
            if (!seen.Add(f.Feature)) throw new InvalidOperationException($"{where}: defined twice");
            if (f.Source is FeatureSource.User && (f.Vocabulary is null || !Vocabularies.ContainsKey(f.Vocabulary)))
                throw new InvalidOperationException($"{where}: a user rule needs a defined vocabulary, got '{f.Vocabulary}'");
            if (f.Source is FeatureSource.Profile)
            {
                if (string.IsNullOrEmpty(f.Field)) throw new InvalidOperationException($"{where}: a profile rule needs a field");
                if ((f.Vocabulary is null) == (f.Numeric is null)) throw new InvalidOperationException($"{where}: a profile rule needs either a vocabulary or a numeric transform");
                if (f.Vocabulary is not null && !Vocabularies.ContainsKey(f.Vocabulary)) throw new InvalidOperationException($"{where}: vocabulary '{f.Vocabulary}' is not defined");
                if (f.Numeric is not null && !Numeric.ContainsKey(f.Numeric)) throw new InvalidOperationException($"{where}: numeric transform '{f.Numeric}' is not defined");
            }
            if (f.Attribute is not null && !ItemAttributes.ContainsKey(f.Attribute)) throw new InvalidOperationException($"{where}: item attribute '{f.Attribute}' is not defined");
            if (f.Source is FeatureSource.Sessions && Sessions is null) throw new InvalidOperationException($"{where}: reads sessions but the spec has no session rule");
        }
        return this;
    }

    // ---------------------------------------------------------------- builders

    /// <summary>
    /// The spec of a <see cref="DinProtocol"/>-family dataset (schema <see cref="DinProtocol.Schema"/>):
    /// user, item and category vocabularies from <paramref name="raw"/> with unknown = 0 — these logs
    /// number every id over the whole log and keep no unknown row, so an unseen id gets the padding
    /// row, a zero embedding (<c>Embedding</c> keeps row 0 at zero) — and item → category from
    /// <paramref name="categoryOf"/>. Negative histories (DIEN) are empty at serving time; sessions
    /// (DSIN, <see cref="DinProtocolOptions.MaxSessions"/> &gt; 0) follow the protocol's rule.
    /// <paramref name="impressions"/>: the labelled behaviour-log build (<see cref="BehaviourLog.BuildLabeled"/>),
    /// which has neither negative histories nor sessions.
    /// </summary>
    public static ServingSpec ForDinProtocol(RawIds raw, int[] categoryOf, DinProtocolOptions o, bool impressions = false)
    {
        if (raw.Items.Count != categoryOf.Length)
            throw new ArgumentException($"{raw.Protocol}: {raw.Items.Count} raw item ids for {categoryOf.Length} item ids (index 0 included)");
        bool neg = o.NegativeHistory && !impressions, sessions = o.MaxSessions > 0 && !impressions;
        var rules = new List<FeatureRule>
        {
            new("user", FeatureSource.User, Vocabulary: "user"),
            new("item", FeatureSource.Candidate),
            new("cate", FeatureSource.Candidate, Attribute: "cate"),
            new("hist_item", FeatureSource.History),
            new("hist_cate", FeatureSource.History, Attribute: "cate"),
        };
        if (neg) rules.AddRange([new("neg_hist_item", FeatureSource.Empty), new("neg_hist_cate", FeatureSource.Empty)]);
        if (sessions) rules.AddRange([new("sess_item", FeatureSource.Sessions), new("sess_cate", FeatureSource.Sessions, Attribute: "cate")]);
        return new ServingSpec
        {
            Protocol = raw.Protocol,
            RawFile = RawFileFormat.BehaviourLog,
            MaxHistory = o.MaxHistory,
            Sessions = sessions ? new SessionRule(o.MaxSessions, o.SessionLength, o.SessionGapSeconds) : null,
            ItemVocabulary = "item",
            Features = rules,
            Vocabularies = new Dictionary<string, ServingVocabulary>
            {
                ["user"] = new(0, raw.Users), ["item"] = new(0, raw.Items), ["cate"] = new(0, raw.Categories),
            },
            ItemAttributes = new Dictionary<string, ItemAttribute> { ["cate"] = new("cate", categoryOf.Select(c => c == 0 ? Array.Empty<int>() : [c]).ToArray()) },
            ItemNames = raw.ItemNames ?? new Dictionary<string, string>(),
        }.Validate();
    }
}
