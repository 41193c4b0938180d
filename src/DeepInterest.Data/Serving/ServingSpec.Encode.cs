using System.Globalization;
using DeepInterest.Data.Batches;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Schema;

namespace DeepInterest.Data.Serving;

public sealed partial class ServingSpec
{
    private enum Slot { Sparse, Dense, Sequence, Session }

    /// <summary>One schema feature with its rule resolved.</summary>
    private sealed record Step(string Feature, Slot Slot, FeatureRule Rule, ServingVocabulary? Vocabulary, ItemAttribute? Attribute, float[]? Numeric);

    private sealed record Plan(FeatureSchema Schema, Step[] Steps, bool NeedsTimes, int HistoryCap);

    /// <summary>The user side of a row: ids and values of the user/profile features, and the row's user id (for GAUC).</summary>
    private sealed record UserSide(Dictionary<string, int> Sparse, Dictionary<string, float> Dense, int UserId);

    private Plan? _plan;                                       // the last schema's plan (a reference swap: safe across threads)

    /// <summary>
    /// Encodes one request into one row per candidate, in candidate order, ready for a model with
    /// <paramref name="schema"/>. The user side (user, profile, history, sessions) is identical in every
    /// row. The flat history keeps the most recent <see cref="MaxHistory"/> behaviours; sessions are
    /// cut from the whole history by the protocol's rule (<see cref="DinProtocol.SessionStarts"/>), so
    /// every behaviour then needs a time, oldest first. Unknown raw ids map to their vocabulary's
    /// <see cref="ServingVocabulary.Unknown"/> and are counted, never refused; negative histories are
    /// empty. Wrong fields throw <see cref="RequestException"/> naming the field; a spec that does not
    /// fit the schema throws <see cref="InvalidOperationException"/>.
    /// </summary>
    public EncodedRequest Encode(RankRequest request, FeatureSchema schema)
    {
        ArgumentNullException.ThrowIfNull(request);
        var plan = PlanFor(schema);
        var candidates = request.Candidates ?? [];
        if (candidates.Count == 0) throw new RequestException("candidates", "at least one candidate item id is required");
        var items = Items;
        int unknownCandidates = 0, unknownBehaviours = 0;
        var ids = new int[candidates.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            if (string.IsNullOrEmpty(candidates[i])) throw new RequestException($"candidates[{i}]", "is empty; expected a raw item id");
            if (!items.TryEncode(candidates[i], out ids[i])) { ids[i] = items.Unknown; unknownCandidates++; }
        }
        var history = request.History ?? [];
        int h = history.Count;
        var seq = new int[h];
        var times = plan.NeedsTimes ? new long[h] : null;
        for (int j = 0; j < h; j++)
        {
            var b = history[j];
            if (b is null || string.IsNullOrEmpty(b.Item)) throw new RequestException($"history[{j}].item", "is empty; expected a raw item id");
            if (!items.TryEncode(b.Item, out seq[j])) { seq[j] = items.Unknown; unknownBehaviours++; }
            if (times is null) continue;
            if (b.Time is not { } t)
                throw new RequestException($"history[{j}].time", "is missing; this model cuts the history into sessions (DSIN) and needs every behaviour's Unix time in seconds");
            if (j > 0 && t < times[j - 1])
                throw new RequestException($"history[{j}].time", $"{t} is earlier than history[{j - 1}].time {times[j - 1]}; the history must be oldest first");
            times[j] = t;
        }
        var profile = request.Profile;
        var user = User(plan, request.User, field => profile?.GetValueOrDefault(field), field => $"profile.{field}");
        var starts = times is null ? null : DinProtocol.SessionStarts(times, h, Sessions!.GapSeconds, 0);
        var rows = new CtrDataset(schema, ids.Length);
        for (int r = 0; r < ids.Length; r++) FillRow(rows, r, plan, user, ids[r], seq, h, starts);
        Check(rows);
        return new EncodedRequest(rows, h, Math.Min(h, plan.HistoryCap), unknownCandidates, unknownBehaviours);
    }

    /// <summary>Ids outside the model's tables mean the spec belongs to another model: say so rather than fail in an embedding lookup.</summary>
    private static void Check(CtrDataset rows)
    {
        try { rows.CheckIds(); }
        catch (SchemaException e) { throw new InvalidOperationException($"{FileName} does not fit the model: {e.Message}"); }
    }

    private Plan PlanFor(FeatureSchema schema)
    {
        if (_plan is { } p && ReferenceEquals(p.Schema, schema)) return p;
        var rules = Features.ToDictionary(f => f.Feature);
        var steps = new List<Step>();
        Step Resolve(string name, Slot slot, params FeatureSource[] allowed)
        {
            if (!rules.TryGetValue(name, out var r))
                throw new InvalidOperationException($"{FileName} has no rule for the model's feature '{name}' (was it saved with another model?)");
            if (!allowed.Contains(r.Source))
                throw new InvalidOperationException($"{FileName}: the model's {slot.ToString().ToLowerInvariant()} feature '{name}' cannot be read from '{r.Source.ToString().ToLowerInvariant()}'");
            if (slot == Slot.Dense && r.Source == FeatureSource.Profile && r.Numeric is null)
                throw new InvalidOperationException($"{FileName}: the model's dense feature '{name}' needs a numeric transform");
            if (slot == Slot.Sparse && r.Source == FeatureSource.Profile && r.Vocabulary is null)
                throw new InvalidOperationException($"{FileName}: the model's sparse feature '{name}' needs a vocabulary");
            return new Step(name, slot, r, r.Vocabulary is null ? null : Vocabularies[r.Vocabulary],
                r.Attribute is null ? null : ItemAttributes[r.Attribute], r.Numeric is null ? null : Numeric[r.Numeric]);
        }
        foreach (var f in schema.Sparse) steps.Add(Resolve(f.Name, Slot.Sparse, FeatureSource.User, FeatureSource.Profile, FeatureSource.Candidate, FeatureSource.Empty));
        foreach (var f in schema.Dense) steps.Add(Resolve(f.Name, Slot.Dense, FeatureSource.Profile, FeatureSource.Empty));
        foreach (var f in schema.Sequences)
        {
            var s = Resolve(f.Name, Slot.Sequence, FeatureSource.History, FeatureSource.Candidate, FeatureSource.Empty);
            if (s.Rule.Source == FeatureSource.Candidate && s.Attribute is null)
                throw new InvalidOperationException($"{FileName}: the model's sequence feature '{f.Name}' reads the candidate, so it needs an item attribute");
            steps.Add(s);
        }
        bool sessions = false;
        foreach (var f in schema.Sessions)
        {
            var s = Resolve(f.Name, Slot.Session, FeatureSource.Sessions, FeatureSource.Empty);
            if (s.Rule.Source == FeatureSource.Sessions)
            {
                sessions = true;
                if (Sessions!.MaxSessions != f.MaxSessions || Sessions.SessionLength != f.MaxLength)
                    throw new InvalidOperationException($"{FileName}: sessions are {Sessions.MaxSessions}×{Sessions.SessionLength} but the model's '{f.Name}' is {f.MaxSessions}×{f.MaxLength}");
            }
            steps.Add(s);
        }
        var hist = schema.Sequences.Where(q => rules.TryGetValue(q.Name, out var r) && r.Source == FeatureSource.History).Select(q => Math.Min(MaxHistory, q.MaxLength)).DefaultIfEmpty(0).Max();
        var plan = new Plan(schema, steps.ToArray(), sessions, hist);
        _plan = plan;
        return plan;
    }

    /// <summary>
    /// The user-side ids and values. <paramref name="profile"/> gives a raw field (null = missing),
    /// <paramref name="fieldName"/> the name an error reports it under. The row's user id (GAUC's
    /// grouping) is the encoded user when a feature reads the user, else the raw user as an integer
    /// (movielens_seed's userId), else 0.
    /// </summary>
    private UserSide User(Plan plan, string? rawUser, Func<string, string?> profile, Func<string, string> fieldName)
    {
        var sparse = new Dictionary<string, int>();
        var dense = new Dictionary<string, float>();
        int? userId = null;
        foreach (var s in plan.Steps)
        {
            if (s.Rule.Source == FeatureSource.User)
            {
                int id = s.Vocabulary!.Encode(rawUser);
                sparse[s.Feature] = id;
                userId ??= id;
            }
            else if (s.Rule.Source == FeatureSource.Profile)
            {
                var field = s.Rule.Field!;
                var v = profile(field) ?? throw new RequestException(fieldName(field), $"is missing; this model reads the user's {string.Join(", ", ProfileFields)}");
                if (s.Slot == Slot.Sparse) sparse[s.Feature] = s.Vocabulary!.Encode(v);
                else if (float.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out float x) && float.IsFinite(x)) dense[s.Feature] = MovieLensSeed.Quantile(s.Numeric!, x);
                else throw new RequestException(fieldName(field), $"expected a finite number, got '{v}'");
            }
        }
        userId ??= int.TryParse(rawUser, NumberStyles.Integer, CultureInfo.InvariantCulture, out int raw) && raw >= 0 ? raw : 0;
        return new UserSide(sparse, dense, userId.Value);
    }

    /// <summary>
    /// Row <paramref name="row"/>: candidate <paramref name="candidate"/> with history
    /// <c>seq[0 .. k)</c> (oldest first), the flat history its most recent behaviours and, when the
    /// plan has sessions, the sessions of <c>seq[0 .. k)</c> from <paramref name="starts"/> (the session
    /// start of every behaviour of <paramref name="seq"/>), exactly as <see cref="DinProtocol"/> fills them.
    /// </summary>
    private void FillRow(CtrDataset d, int row, Plan plan, UserSide user, int candidate, int[] seq, int k, int[]? starts)
    {
        Span<(int Start, int End)> found = stackalloc (int, int)[plan.NeedsTimes ? Sessions!.MaxSessions : 0];
        int sessionCount = plan.NeedsTimes ? DinProtocol.SessionRanges(starts!, k, found) : 0;
        foreach (var s in plan.Steps)
        {
            var src = s.Rule.Source;
            switch (s.Slot)
            {
                case Slot.Sparse:
                    d.Sparse[s.Feature][row] = src switch
                    {
                        FeatureSource.User or FeatureSource.Profile => user.Sparse[s.Feature],
                        FeatureSource.Candidate => s.Attribute is null ? candidate : First(s.Attribute, candidate),
                        _ => 0,
                    };
                    break;
                case Slot.Dense:
                    d.Dense[s.Feature][row] = src == FeatureSource.Profile ? user.Dense[s.Feature] : 0f;
                    break;
                case Slot.Sequence:
                {
                    var col = d.Sequences[s.Feature];
                    var ids = col.Ids.AsSpan(row * col.MaxLength, col.MaxLength);
                    if (src == FeatureSource.History)
                    {
                        int start = Math.Max(0, k - Math.Min(MaxHistory, col.MaxLength)), len = k - start;
                        col.Lengths[row] = len;
                        for (int t = 0; t < len; t++) ids[t] = s.Attribute is null ? seq[start + t] : First(s.Attribute, seq[start + t]);
                    }
                    else if (src == FeatureSource.Candidate)
                    {
                        var list = s.Attribute!.Of(candidate);
                        if (list.Length > col.MaxLength) list = list[^col.MaxLength..];        // the most recent, as CsvTable.List truncates
                        col.Lengths[row] = list.Length;
                        list.CopyTo(ids);
                    }
                    else col.Lengths[row] = 0;
                    break;
                }
                case Slot.Session:
                {
                    var col = d.Sessions[s.Feature];
                    if (src != FeatureSource.Sessions) { col.Counts[row] = 0; break; }
                    int S = col.MaxSessions, L = col.MaxLength;
                    col.Counts[row] = sessionCount;
                    for (int c = 0; c < sessionCount; c++)
                    {
                        var (start, stop) = found[sessionCount - 1 - c];                     // oldest first
                        int from = Math.Max(start, stop - L), len = stop - from;
                        col.Lengths[row * S + c] = len;
                        for (int t = 0; t < len; t++)
                            col.Ids[(row * S + c) * L + t] = s.Attribute is null ? seq[from + t] : First(s.Attribute, seq[from + t]);
                    }
                    break;
                }
            }
        }
        d.UserIds[row] = user.UserId;
    }

    private static int First(ItemAttribute a, int item)
    {
        var ids = a.Of(item);
        return ids.Length > 0 ? ids[0] : 0;
    }
}
