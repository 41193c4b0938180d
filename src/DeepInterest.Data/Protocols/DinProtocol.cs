using DeepInterest.Data.Batches;
using DeepInterest.Data.Schema;
using DeepInterest.Data.Serving;

namespace DeepInterest.Data.Protocols;

/// <summary>Options of <see cref="DinProtocol.Build"/>.</summary>
/// <param name="MaxHistory">most recent behaviours kept as the flat history</param>
/// <param name="ValidUserFraction">share of users whose b_{n−1} pair is held out for validation</param>
/// <param name="EmbeddingDim">embedding size of every table</param>
/// <param name="Seed">seed of the validation draw and the negative sampling</param>
/// <param name="NegativeHistory">add DIEN negative histories</param>
/// <param name="MaxSessions">DSIN sessions per sample (0 = none): the last S sessions before the target.</param>
/// <param name="SessionLength">DSIN: behaviours kept per session (the most recent ones).</param>
/// <param name="SessionGapSeconds">DSIN: a gap longer than this starts a new session (the paper: 30 minutes).</param>
public sealed record DinProtocolOptions(int MaxHistory = 20, double ValidUserFraction = 0.1, int EmbeddingDim = 16, ulong Seed = 1, bool NegativeHistory = false,
    int MaxSessions = 0, int SessionLength = 10, long SessionGapSeconds = 1800)
{
    public DinProtocolOptions Validate()
    {
        if (MaxHistory < 1) throw new ArgumentException($"max_history must be ≥ 1, got {MaxHistory}.");
        if (MaxSessions < 0) throw new ArgumentException($"max_sessions must be ≥ 0, got {MaxSessions}.");
        if (SessionLength < 1) throw new ArgumentException($"session_length must be ≥ 1, got {SessionLength}.");
        if (SessionGapSeconds < 0) throw new ArgumentException($"session_gap_seconds must be ≥ 0, got {SessionGapSeconds}.");
        if (ValidUserFraction is < 0 or >= 1) throw new ArgumentException($"valid_fraction must be in [0, 1), got {ValidUserFraction}.");
        return this;
    }
}

/// <summary>
/// The DIN paper's sample construction (§5.1, Amazon): for a user's time-ordered behaviours
/// b_1 … b_n, the k-th behaviour is a positive target whose history is b_1 … b_{k−1} (the most
/// recent <see cref="DinProtocolOptions.MaxHistory"/> of them), and each positive is paired with one
/// negative target drawn uniformly from items the user never interacted with, sharing the history.
/// Training uses targets b_2 … b_{n−1}; the test pair is b_n; users with fewer than 3 behaviours are
/// skipped. Validation, for early stopping, takes the b_{n−1} pair of a seeded share of users (whose
/// training then stops at b_{n−2}), so it mirrors the test position and never touches test.
/// With <see cref="DinProtocolOptions.NegativeHistory"/>, each history position also gets a DIEN
/// negative: an item drawn from the item frequency distribution, other than the clicked one.
/// With <see cref="DinProtocolOptions.MaxSessions"/> &gt; 0 (DSIN, needs timestamps), the behaviours
/// before the target are also divided into sessions — a new one starts after a gap longer than
/// <see cref="DinProtocolOptions.SessionGapSeconds"/> — and the last S sessions, oldest first, each
/// keeping its most recent <see cref="DinProtocolOptions.SessionLength"/> behaviours, fill
/// <c>sess_item</c>/<c>sess_cate</c>. A session still open at the target is cut at the target.
/// </summary>
public static class DinProtocol
{
    /// <summary>The splits and counts; <see cref="Spec"/> is what scoring raw requests needs (null when the build was given no raw ids).</summary>
    public sealed record Result(CtrDataset Train, CtrDataset Valid, CtrDataset Test, int Users, int Items, int Categories)
    {
        public ServingSpec? Spec { get; init; }
    }

    /// <param name="sequences">per user (index = user id ≥ 1), the item ids (≥ 1) in time order</param>
    /// <param name="categoryOf">item id → category id (≥ 1)</param>
    /// <param name="o">protocol options</param>
    /// <param name="times">per user, the behaviours' times in seconds (non-decreasing); needed for sessions</param>
    /// <param name="raw">the raw strings behind the ids; given, the result carries its <see cref="ServingSpec"/></param>
    public static Result Build(IReadOnlyList<int[]?> sequences, int[] categoryOf, DinProtocolOptions o, IReadOnlyList<long[]?>? times = null, RawIds? raw = null)
    {
        o.Validate();
        if (o.MaxSessions > 0 && times is null) throw new ArgumentException("max_sessions needs behaviour timestamps; this data source has none.");
        int maxItem = categoryOf.Length - 1, maxCate = categoryOf.Max();
        int users = sequences.Count - 1;
        var schema = Schema(users + 1, maxItem + 1, maxCate + 1, o);
        var rng = new Random((int)(o.Seed % int.MaxValue));
        // Negative histories draw from their own stream, so DIN and DIEN datasets of one seed hold the same targets.
        var negRng = new Random((int)((o.Seed * 7919 + 17) % int.MaxValue));
        var validUsers = new bool[users + 1];
        for (int u = 1; u <= users; u++) validUsers[u] = rng.NextDouble() < o.ValidUserFraction;
        // Item frequencies for DIEN's negative histories (sampled by index into the flat list of behaviours).
        var allItems = sequences.Where(s => s is not null).SelectMany(s => s!).ToArray();
        int itemCount = Enumerable.Range(1, maxItem).Count(i => categoryOf[i] != 0);

        // With sessions, users whose behaviours lack timestamps are left out (for every model, so the samples stay the same).
        bool Timed(int u) => o.MaxSessions == 0 || (u < times!.Count && times[u] is not null);
        int nTrain = 0, nValid = 0, nTest = 0;
        for (int u = 1; u <= users; u++)
        {
            var s = sequences[u];
            if (s is null || s.Length < 3 || !Timed(u)) continue;
            nTest += 2;
            if (validUsers[u]) { nValid += 2; nTrain += 2 * (s.Length - 3); }
            else nTrain += 2 * (s.Length - 2);
        }
        var train = new CtrDataset(schema, nTrain); var valid = new CtrDataset(schema, nValid); var test = new CtrDataset(schema, nTest);
        int it = 0, iv = 0, ie = 0;
        var seen = new HashSet<int>();
        int[] sessionStart = [];
        for (int u = 1; u <= users; u++)
        {
            var s = sequences[u];
            if (s is null || s.Length < 3 || !Timed(u)) continue;
            seen.Clear();
            foreach (var x in s) seen.Add(x);
            if (seen.Count >= itemCount)
                throw new ArgumentException($"user {u} has interacted with every one of the {itemCount} items, so no unseen negative can be drawn");
            if (o.MaxSessions > 0) sessionStart = SessionStarts(times![u]!, s.Length, o.SessionGapSeconds, u);
            int lastTrain = validUsers[u] ? s.Length - 3 : s.Length - 2;
            for (int k = 1; k <= lastTrain; k++) { Add(train, it, u, s, k, seen, categoryOf, rng, negRng, allItems, o, sessionStart); it += 2; }
            if (validUsers[u]) { Add(valid, iv, u, s, s.Length - 2, seen, categoryOf, rng, negRng, allItems, o, sessionStart); iv += 2; }
            Add(test, ie, u, s, s.Length - 1, seen, categoryOf, rng, negRng, allItems, o, sessionStart); ie += 2;
        }
        return new Result(train, valid, test, Enumerable.Range(1, users).Count(u => sequences[u] is { Length: >= 3 } && Timed(u)), allItems.Distinct().Count(), categoryOf.Skip(1).Where(c => c > 0).Distinct().Count())
        {
            Spec = raw is null ? null : ServingSpec.ForDinProtocol(raw, categoryOf, o),
        };
    }

    /// <summary>
    /// Per-user behaviour sequences (index = user id ≥ 1) and their times from behaviour rows: each
    /// user's rows sorted by <c>Order</c>, ties keeping their input order (LINQ's sort is stable). A
    /// user's times are null when any of them is unknown (negative), as sessions then cannot be cut.
    /// </summary>
    public static (List<int[]?> Sequences, List<long[]?> Times) Sequences(IEnumerable<(int User, int Item, long Time, long Order)> rows, int maxUser)
    {
        var seqs = new List<int[]?>(new int[]?[maxUser + 1]);
        var times = new List<long[]?>(new long[]?[maxUser + 1]);
        foreach (var g in rows.GroupBy(r => r.User))
        {
            var ordered = g.OrderBy(r => r.Order).ToArray();
            seqs[g.Key] = ordered.Select(r => r.Item).ToArray();
            times[g.Key] = ordered.All(r => r.Time >= 0) ? ordered.Select(r => r.Time).ToArray() : null;
        }
        return (seqs, times);
    }

    public static FeatureSchema Schema(int userVocab, int itemVocab, int cateVocab, DinProtocolOptions o) => new FeatureSchema
    {
        Tables = [new("user", userVocab, o.EmbeddingDim), new("item", itemVocab, o.EmbeddingDim), new("cate", cateVocab, o.EmbeddingDim)],
        Sparse = [new("user", "user"), new("item", "item"), new("cate", "cate")],
        Sequences = o.NegativeHistory
            ? [new("hist_item", "item", o.MaxHistory), new("hist_cate", "cate", o.MaxHistory), new("neg_hist_item", "item", o.MaxHistory), new("neg_hist_cate", "cate", o.MaxHistory)]
            : [new("hist_item", "item", o.MaxHistory), new("hist_cate", "cate", o.MaxHistory)],
        Groups = [new("behaviour", o.NegativeHistory
            ? [new AttentionPair("item", "hist_item", "neg_hist_item"), new AttentionPair("cate", "hist_cate", "neg_hist_cate")]
            : [new AttentionPair("item", "hist_item"), new AttentionPair("cate", "hist_cate")])],
        Sessions = o.MaxSessions > 0 ? [new("sess_item", "item", o.MaxSessions, o.SessionLength), new("sess_cate", "cate", o.MaxSessions, o.SessionLength)] : [],
        SessionGroups = o.MaxSessions > 0 ? [new("sessions", [new SessionPair("item", "sess_item"), new SessionPair("cate", "sess_cate")])] : [],
    }.Validate();

    /// <summary>starts[j] = index of the first behaviour of the session holding behaviour j (gap &gt; <paramref name="gap"/> opens a session).</summary>
    public static int[] SessionStarts(long[] t, int n, long gap, int user)
    {
        if (t.Length != n) throw new ArgumentException($"user {user}: {t.Length} timestamps for {n} behaviours");
        var starts = new int[n];
        for (int j = 1; j < n; j++)
        {
            if (t[j] < t[j - 1]) throw new ArgumentException($"user {user}: behaviour {j} is earlier than the one before it; sort the log by time");
            starts[j] = t[j] - t[j - 1] > gap ? j : starts[j - 1];
        }
        return starts;
    }

    /// <summary>
    /// The last <c>found.Length</c> sessions of behaviours 0 … k−1 as [start, end) ranges, newest first
    /// (walking back from behaviour k−1; a session open at k is cut there); returns how many. Shared
    /// with serving (<see cref="ServingSpec.Encode"/>) so both cut sessions the same way.
    /// </summary>
    internal static int SessionRanges(int[] starts, int k, Span<(int Start, int End)> found)
    {
        int count = 0, end = k;
        while (end > 0 && count < found.Length)
        {
            int start = starts[end - 1];
            found[count++] = (start, end);
            end = start;
        }
        return count;
    }

    /// <summary>Sessions of behaviours s[0 … k−1] for row <paramref name="row"/>: the last S, oldest first, each its last L behaviours.</summary>
    private static void FillSessions(CtrDataset d, int row, int[] s, int k, int[] categoryOf, int[] starts, DinProtocolOptions o)
    {
        var si = d.Sessions["sess_item"]; var sc = d.Sessions["sess_cate"];
        int S = o.MaxSessions, L = o.SessionLength;
        Span<(int Start, int End)> found = stackalloc (int, int)[S];
        int count = SessionRanges(starts, k, found);
        si.Counts[row] = sc.Counts[row] = count;
        for (int c = 0; c < count; c++)
        {
            var (start, stop) = found[count - 1 - c];                 // oldest first
            int from = Math.Max(start, stop - L), len = stop - from;
            si.Lengths[row * S + c] = sc.Lengths[row * S + c] = len;
            for (int t = 0; t < len; t++)
            {
                int item = s[from + t];
                si.Ids[(row * S + c) * L + t] = item;
                sc.Ids[(row * S + c) * L + t] = categoryOf[item];
            }
        }
    }

    /// <summary>Writes the positive (target s[k]) at row r and its negative at row r + 1, both with history s[..k].</summary>
    private static void Add(CtrDataset d, int r, int user, int[] s, int k, HashSet<int> seen, int[] categoryOf, Random rng, Random negRng, int[] allItems, DinProtocolOptions o, int[] sessionStart)
    {
        if (o.MaxSessions > 0) for (int j = 0; j < 2; j++) FillSessions(d, r + j, s, k, categoryOf, sessionStart, o);
        int maxItem = categoryOf.Length - 1, neg;
        do neg = 1 + rng.Next(maxItem); while (seen.Contains(neg) || categoryOf[neg] == 0);
        int start = Math.Max(0, k - o.MaxHistory), len = k - start;
        for (int j = 0; j < 2; j++)
        {
            int row = r + j, target = j == 0 ? s[k] : neg;
            d.Sparse["user"][row] = user;
            d.Sparse["item"][row] = target;
            d.Sparse["cate"][row] = categoryOf[target];
            d.Labels[row] = j == 0 ? 1f : 0f;
            d.UserIds[row] = user;
            var hi = d.Sequences["hist_item"]; var hc = d.Sequences["hist_cate"];
            hi.Lengths[row] = hc.Lengths[row] = len;
            for (int t = 0; t < len; t++)
            {
                int item = s[start + t];
                hi.Ids[row * o.MaxHistory + t] = item;
                hc.Ids[row * o.MaxHistory + t] = categoryOf[item];
            }
            if (!o.NegativeHistory) continue;
            var ni = d.Sequences["neg_hist_item"]; var nc = d.Sequences["neg_hist_cate"];
            ni.Lengths[row] = nc.Lengths[row] = len;
            for (int t = 0; t < len; t++)
            {
                int item;
                do item = allItems[negRng.Next(allItems.Length)]; while (item == s[start + t]);
                ni.Ids[row * o.MaxHistory + t] = item;
                nc.Ids[row * o.MaxHistory + t] = categoryOf[item];
            }
        }
    }
}

/// <summary>
/// MovieLens-1M for the DIN protocol: all 1,000,209 (user, movie) pairs in per-user time order from
/// <c>movielens-1m-ordered/ml1m_ordered_interactions.csv.gz</c>, category = the first genre in
/// <c>movielens-1m/movies.dat</c> (Latin-1, "id::title::genre|genre").
/// </summary>
public static class MovieLens1M
{
    public static (List<int[]?> Sequences, int[] CategoryOf) Read(string orderedCsvGz, string moviesDat)
    {
        var (seqs, cats, _) = ReadWithTimes(orderedCsvGz, moviesDat);
        return (seqs, cats);
    }

    /// <summary>
    /// As <see cref="Read"/>, plus each behaviour's Unix time in seconds (for DSIN sessions); a user's
    /// times are null unless every one of their behaviours has a timestamp (all users 1–2999 and a
    /// few others: see the dataset's README).
    /// </summary>
    public static (List<int[]?> Sequences, int[] CategoryOf, List<long[]?> Times) ReadWithTimes(string orderedCsvGz, string moviesDat)
    {
        var log = ReadLog(orderedCsvGz, moviesDat);
        return (log.Sequences, log.CategoryOf, log.Times);
    }

    /// <summary>The log of <see cref="ReadWithTimes"/> and the raw strings of its ids (for serving).</summary>
    public sealed record Log(List<int[]?> Sequences, int[] CategoryOf, List<long[]?> Times, RawIds Raw);

    /// <summary>
    /// As <see cref="ReadWithTimes"/>, plus <see cref="RawIds"/>: user and movie ids are the MovieLens
    /// ids themselves (so their raw strings are the numbers), categories are first genres numbered in
    /// order of first appearance in movies.dat, and item names are its titles.
    /// </summary>
    public static Log ReadLog(string orderedCsvGz, string moviesDat)
    {
        if (!File.Exists(orderedCsvGz)) throw new Readers.DataFormatException($"{orderedCsvGz}: file not found");
        if (!File.Exists(moviesDat)) throw new Readers.DataFormatException($"{moviesDat}: file not found");
        var genres = new Dictionary<string, int>();
        var cats = new Dictionary<int, int>();
        var titles = new Dictionary<string, string>();
        int line = 0;
        foreach (var l in File.ReadLines(moviesDat, System.Text.Encoding.Latin1))
        {
            line++;
            var parts = l.Split("::");
            if (parts.Length != 3 || !int.TryParse(parts[0], out int id) || id < 1)
                throw new Readers.DataFormatException($"{moviesDat}:{line}:1: expected 'id::title::genres', got '{l}'");
            var first = parts[2].Split('|')[0];
            if (!genres.TryGetValue(first, out int g)) genres[first] = g = genres.Count + 1;
            cats[id] = g;
            titles[id.ToString()] = parts[1];
        }
        var categoryOf = new int[cats.Keys.Max() + 1];
        foreach (var (id, g) in cats) categoryOf[id] = g;
        var rows = new List<(int User, int Pos, int Movie, long Time)>(1_000_209);
        using (var gz = new System.IO.Compression.GZipStream(File.OpenRead(orderedCsvGz), System.IO.Compression.CompressionMode.Decompress))
        using (var reader = new StreamReader(gz))
        {
            var header = reader.ReadLine()?.Split(',') ?? throw new Readers.DataFormatException($"{orderedCsvGz}: the file is empty");
            int cu = Array.IndexOf(header, "user_id"), cm = Array.IndexOf(header, "movie_id"), cp = Array.IndexOf(header, "position"), ct = Array.IndexOf(header, "timestamp");
            if (cu < 0 || cm < 0 || cp < 0 || ct < 0) throw new Readers.DataFormatException($"{orderedCsvGz}: needs columns user_id, movie_id, position, timestamp");
            line = 1;
            string? l;
            while ((l = reader.ReadLine()) is not null)
            {
                line++;
                var f = l.Split(',');
                if (f.Length != header.Length || !int.TryParse(f[cu], out int u) || !int.TryParse(f[cm], out int m) || !int.TryParse(f[cp], out int p) || !TryTime(f[ct], out long time) || u < 1 || m < 1 || p < 0)
                    throw new Readers.DataFormatException($"{orderedCsvGz}:{line}: expected {header.Length} fields with positive user_id, movie_id, a position and an empty or integer timestamp, got '{l}'");
                if (m >= categoryOf.Length || categoryOf[m] == 0) throw new Readers.DataFormatException($"{orderedCsvGz}:{line}:{cm + 1}: movie {m} is not in {moviesDat}");
                rows.Add((u, p, m, time));
            }
        }
        var (seqs, times) = DinProtocol.Sequences(rows.Select(r => (r.User, r.Movie, r.Time, (long)r.Pos)), rows.Max(r => r.User));
        var genreNames = new string?[genres.Count + 1];
        foreach (var (name, g) in genres) genreNames[g] = name;
        var raw = new RawIds("ml1m_din",
            seqs.Select((s, u) => s is null ? null : u.ToString()).ToArray(),
            categoryOf.Select((c, m) => c == 0 ? null : m.ToString()).ToArray(),
            genreNames) { ItemNames = titles };
        return new Log(seqs, categoryOf, times, raw);
    }

    // The file leaves the timestamp empty where no source knew it (−1 here).
    private static bool TryTime(string s, out long t)
    {
        if (s.Length == 0) { t = -1; return true; }
        return long.TryParse(s, out t) && t >= 0;
    }
}
