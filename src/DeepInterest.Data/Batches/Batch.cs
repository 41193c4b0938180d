using DeepInterest.Data.Schema;

namespace DeepInterest.Data.Batches;

/// <summary>
/// A mini-batch in columnar form with reusable buffers: sparse ids [B], sequences [B, T] padded
/// to the longest row of this batch (not the global maximum) with lengths [B], dense values [B],
/// labels and user ids. <see cref="Fill"/> refills it without allocating once buffers have grown.
/// </summary>
public sealed class Batch
{
    private readonly Dictionary<string, int[]> _sparse = new();
    private readonly Dictionary<string, float[]> _dense = new();
    private readonly Dictionary<string, (int[] Ids, int[] Lengths, int Steps)> _seq = new();
    private readonly Dictionary<string, SessionBatch> _sess = new();
    private float[] _labels = [];
    private int[] _users = [];

    public int Count { get; private set; }
    public ReadOnlySpan<float> Labels => _labels.AsSpan(0, Count);
    public ReadOnlySpan<int> UserIds => _users.AsSpan(0, Count);

    /// <summary>The label buffer (length ≥ Count) for wrapping without a copy.</summary>
    public float[] LabelBuffer => _labels;

    public int[] Sparse(string name) => _sparse.TryGetValue(name, out var v) ? v : throw new SchemaException($"feature '{name}': not in this batch");
    public float[] Dense(string name) => _dense.TryGetValue(name, out var v) ? v : throw new SchemaException($"feature '{name}': not in this batch");

    /// <summary>Ids [B, Steps] (row-major, buffer may be longer), lengths [B], and Steps = longest row in the batch (≥ 1).</summary>
    public (int[] Ids, int[] Lengths, int Steps) Sequence(string name) => _seq.TryGetValue(name, out var v) ? v : throw new SchemaException($"feature '{name}': not in this batch");

    /// <summary>Sessions of a session feature, padded to this batch's most sessions and longest session.</summary>
    public SessionBatch Sessions(string name) => _sess.TryGetValue(name, out var v) ? v : throw new SchemaException($"feature '{name}': not in this batch");

    /// <summary>Copies rows <paramref name="rows"/> of <paramref name="data"/> into this batch.</summary>
    public void Fill(CtrDataset data, ReadOnlySpan<int> rows)
    {
        int b = rows.Length;
        Count = b;
        Grow(ref _labels, b);
        Grow(ref _users, b);
        for (int i = 0; i < b; i++) { _labels[i] = data.Labels[rows[i]]; _users[i] = data.UserIds[rows[i]]; }
        foreach (var (name, col) in data.Sparse)
        {
            var buf = _sparse.TryGetValue(name, out var x) ? x : [];
            Grow(ref buf, b);
            for (int i = 0; i < b; i++) buf[i] = col[rows[i]];
            _sparse[name] = buf;
        }
        foreach (var (name, col) in data.Dense)
        {
            var buf = _dense.TryGetValue(name, out var x) ? x : [];
            Grow(ref buf, b);
            for (int i = 0; i < b; i++) buf[i] = col[rows[i]];
            _dense[name] = buf;
        }
        foreach (var (name, col) in data.Sequences)
        {
            int steps = 1;
            for (int i = 0; i < b; i++) steps = Math.Max(steps, col.Lengths[rows[i]]);
            var (ids, lengths, _) = _seq.TryGetValue(name, out var x) ? x : ([], [], 0);
            Grow(ref ids, b * steps);
            Grow(ref lengths, b);
            for (int i = 0; i < b; i++)
            {
                int r = rows[i], len = col.Lengths[r];
                lengths[i] = len;
                col.Ids.AsSpan(r * col.MaxLength, len).CopyTo(ids.AsSpan(i * steps));
                ids.AsSpan(i * steps + len, steps - len).Clear();
            }
            _seq[name] = (ids, lengths, steps);
        }
        foreach (var (name, col) in data.Sessions)
        {
            if (!_sess.TryGetValue(name, out var sb)) _sess[name] = sb = new SessionBatch();
            sb.Fill(col, rows);
        }
    }

    private static void Grow<T>(ref T[] a, int n)
    {
        if (a.Length < n) a = new T[Math.Max(n, a.Length * 2)];
    }
}

/// <summary>
/// One session feature of a batch: ids [B, S, L] with S = the most sessions of any row (≥ 1) and
/// L = the longest session (≥ 1), session lengths [B·S] and session counts [B]; buffers are reused.
/// </summary>
public sealed class SessionBatch
{
    private int[] _ids = [], _lengths = [], _counts = [];
    public int[] Ids => _ids;
    public int[] Lengths => _lengths;
    public int[] Counts => _counts;
    public int Sessions { get; private set; }
    public int Steps { get; private set; }

    internal void Fill(SessionColumn col, ReadOnlySpan<int> rows)
    {
        int b = rows.Length, s = 1, l = 1, cs = col.MaxSessions, cl = col.MaxLength;
        foreach (var r in rows)
        {
            s = Math.Max(s, col.Counts[r]);
            for (int k = 0; k < col.Counts[r]; k++) l = Math.Max(l, col.Lengths[r * cs + k]);
        }
        Sessions = s; Steps = l;
        if (_ids.Length < b * s * l) _ids = new int[Math.Max(b * s * l, _ids.Length * 2)];
        if (_lengths.Length < b * s) _lengths = new int[Math.Max(b * s, _lengths.Length * 2)];
        if (_counts.Length < b) _counts = new int[Math.Max(b, _counts.Length * 2)];
        _ids.AsSpan(0, b * s * l).Clear();
        for (int i = 0; i < b; i++)
        {
            int r = rows[i];
            _counts[i] = col.Counts[r];
            for (int k = 0; k < s; k++)
            {
                int len = k < cs ? col.Lengths[r * cs + k] : 0;
                _lengths[i * s + k] = len;
                if (len > 0) col.Ids.AsSpan((r * cs + k) * cl, len).CopyTo(_ids.AsSpan((i * s + k) * l));
            }
        }
    }
}

/// <summary>Where training batches come from: an in-memory dataset or a stream of chunks from a cache file.</summary>
public interface IBatchSource
{
    FeatureSchema Schema { get; }
    /// <summary>Rows per epoch.</summary>
    int Count { get; }
    int BatchesPerEpoch { get; }
    /// <summary>One pass; the yielded batch object is reused, so consume it before moving on.</summary>
    IEnumerable<Batch> Epoch();
    /// <summary>Epochs started so far (the shuffling state a resumed run restores).</summary>
    ulong EpochCounter { get; set; }
}

/// <summary>
/// Yields a dataset as batches, shuffled with a seed (or in order), reusing one <see cref="Batch"/>.
/// With <paramref name="bucketWindow"/> = k &gt; 0, every window of k batches' worth of shuffled rows is
/// sorted by sequence length before it is cut into batches, and the batches are then visited in a
/// seeded random order: batches hold rows of similar length, so padding to the batch's longest row
/// wastes little, while the epoch stays shuffled at the window level.
/// </summary>
public sealed class BatchIterator(CtrDataset data, int batchSize, bool shuffle, ulong seed, int bucketWindow = 0) : IBatchSource
{
    private readonly int[] _order = Enumerable.Range(0, data.Count).ToArray();
    private readonly Batch _batch = new();
    private ulong _epoch;
    private int[]? _lengths, _bucketed, _starts;

    public CtrDataset Data => data;
    public FeatureSchema Schema => data.Schema;
    public int Count => data.Count;
    public int BatchSize => batchSize > 0 ? batchSize : throw new ArgumentException($"Batch size must be positive, got {batchSize}.");
    public int BatchesPerEpoch => (data.Count + BatchSize - 1) / BatchSize;

    /// <summary>One pass over the data; the yielded batch object is reused, so consume it before moving on.</summary>
    public IEnumerable<Batch> Epoch()
    {
        if (bucketWindow < 0) throw new ArgumentException($"bucket window must be ≥ 0 batches, got {bucketWindow}.");
        ulong epochSeed = seed * 1_000_003UL + _epoch;
        if (shuffle) Shuffle(_order, epochSeed);
        _epoch++;
        var order = bucketWindow > 0 ? Bucket(epochSeed) : _order;
        int batches = BatchesPerEpoch;
        for (int b = 0; b < batches; b++)
        {
            int start = (bucketWindow > 0 ? _starts![b] : b) * BatchSize;
            int n = Math.Min(BatchSize, order.Length - start);
            _batch.Fill(data, order.AsSpan(start, n));
            yield return _batch;
        }
    }

    /// <summary>The epoch's order with each window sorted by length, and a shuffled list of batch indices.</summary>
    private int[] Bucket(ulong epochSeed)
    {
        if (_lengths is null)
        {
            _lengths = new int[data.Count];
            foreach (var col in data.Sequences.Values)
                for (int r = 0; r < data.Count; r++) _lengths[r] = Math.Max(_lengths[r], col.Lengths[r]);
            foreach (var col in data.Sessions.Values)
                for (int r = 0; r < data.Count; r++)
                    for (int k = 0; k < col.Counts[r]; k++) _lengths[r] = Math.Max(_lengths[r], col.Lengths[r * col.MaxSessions + k]);
            _bucketed = new int[data.Count];
            _starts = new int[BatchesPerEpoch];
        }
        _order.CopyTo(_bucketed!, 0);
        int window = bucketWindow * BatchSize;
        var keys = new int[Math.Min(window, data.Count)];
        for (int w = 0; w < data.Count; w += window)
        {
            int n = Math.Min(window, data.Count - w);
            var rows = _bucketed.AsSpan(w, n);
            for (int i = 0; i < n; i++) keys[i] = _lengths[rows[i]];
            keys.AsSpan(0, n).Sort(rows);          // Sort is unstable; ties stay in shuffled order either way
        }
        for (int b = 0; b < _starts!.Length; b++) _starts[b] = b;
        if (shuffle) Shuffle(_starts, epochSeed ^ 0xD1B54A32D192ED03UL);
        return _bucketed!;
    }

    /// <summary>
    /// Epochs started (the resumable shuffling state). Each epoch shuffles the previous epoch's
    /// order, so setting the counter replays those shuffles from the initial order.
    /// </summary>
    public ulong EpochCounter
    {
        get => _epoch;
        set
        {
            for (int i = 0; i < _order.Length; i++) _order[i] = i;
            if (shuffle) for (ulong e = 0; e < value; e++) Shuffle(_order, seed * 1_000_003UL + e);
            _epoch = value;
        }
    }

    internal static void Shuffle(int[] a, ulong s) => Shuffle(a, a.Length, s);

    /// <summary>Fisher–Yates over the first <paramref name="n"/> entries.</summary>
    internal static void Shuffle(int[] a, int n, ulong s)
    {
        // SplitMix64 stream: reproducible across platforms, independent of System.Random's algorithm.
        for (int i = n - 1; i > 0; i--)
        {
            s += 0x9E3779B97F4A7C15UL;
            ulong z = s; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL; z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL; z ^= z >> 31;
            int j = (int)(z % (ulong)(i + 1));
            (a[i], a[j]) = (a[j], a[i]);
        }
    }
}
