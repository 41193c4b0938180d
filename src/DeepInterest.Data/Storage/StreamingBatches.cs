using DeepInterest.Data.Batches;
using DeepInterest.Data.Schema;

namespace DeepInterest.Data.Storage;

/// <summary>
/// Training batches streamed from a cache file (<see cref="DatasetCache"/>) in chunks of
/// <c>chunkRows</c> rows, so a dataset larger than memory trains with memory bounded by
/// one chunk: each epoch visits the chunks in a seeded random order and shuffles the rows inside
/// each chunk (a two-level shuffle; batches never mix rows of two chunks). One chunk buffer and one
/// batch are reused for the whole run.
/// </summary>
public sealed class StreamingBatches : IBatchSource, IDisposable
{
    private readonly DatasetCache.CacheReader _reader;
    private readonly CtrDataset _chunk;
    private readonly Batch _batch = new();
    private readonly int _chunkRows, _batchSize;
    private readonly bool _shuffle;
    private readonly ulong _seed;
    private readonly int[] _order;

    public StreamingBatches(string cachePath, int chunkRows, int batchSize, bool shuffle, ulong seed)
    {
        if (chunkRows < 1) throw new ArgumentException($"chunk rows must be ≥ 1, got {chunkRows}.");
        if (batchSize < 1) throw new ArgumentException($"Batch size must be positive, got {batchSize}.");
        _reader = DatasetCache.Open(cachePath);
        _chunkRows = Math.Min(chunkRows, Math.Max(1, _reader.Count));
        _batchSize = batchSize;
        _shuffle = shuffle;
        _seed = seed;
        _chunk = new CtrDataset(_reader.Schema, _chunkRows);
        _order = new int[_chunkRows];
    }

    public FeatureSchema Schema => _reader.Schema;
    public int Count => _reader.Count;
    public int Chunks => (Count + _chunkRows - 1) / _chunkRows;
    public int BatchesPerEpoch
    {
        get
        {
            int full = Count / _chunkRows, rest = Count % _chunkRows;
            return full * ((_chunkRows + _batchSize - 1) / _batchSize) + (rest + _batchSize - 1) / _batchSize;
        }
    }

    public ulong EpochCounter { get; set; }

    public IEnumerable<Batch> Epoch()
    {
        var chunks = Enumerable.Range(0, Chunks).ToArray();
        ulong epochSeed = _seed * 1_000_003UL + EpochCounter;
        if (_shuffle) BatchIterator.Shuffle(chunks, epochSeed);
        EpochCounter++;
        foreach (var c in chunks)
        {
            int start = c * _chunkRows, rows = Math.Min(_chunkRows, Count - start);
            _reader.ReadInto(_chunk, start, rows);
            for (int i = 0; i < rows; i++) _order[i] = i;
            if (_shuffle) BatchIterator.Shuffle(_order, rows, epochSeed ^ ((ulong)(c + 1) * 0x9E3779B97F4A7C15UL));
            for (int b = 0; b < rows; b += _batchSize)
            {
                _batch.Fill(_chunk, _order.AsSpan(b, Math.Min(_batchSize, rows - b)));
                yield return _batch;
            }
        }
    }

    public void Dispose() => _reader.Dispose();
}
