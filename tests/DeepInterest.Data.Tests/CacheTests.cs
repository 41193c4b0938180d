using System.Text;
using DeepInterest.Data.Batches;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Readers;
using DeepInterest.Data.Storage;
using DeepInterest.Data.Synthetic;

namespace DeepInterest.Data.Tests;

/// <summary>The safetensors dataset cache and streaming from it.</summary>
public sealed class CacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("di-cache").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>A dataset with every column kind: sparse, dense, sequences and sessions.</summary>
    private static CtrDataset Rich()
    {
        var rng = new Random(5);
        var seq = new List<int[]?> { null };
        var times = new List<long[]?> { null };
        for (int u = 0; u < 30; u++)
        {
            var items = Enumerable.Range(0, 4 + rng.Next(12)).Select(_ => 1 + rng.Next(40)).Distinct().ToArray();
            seq.Add(items);
            long t = 0;
            times.Add(items.Select(_ => t += rng.Next(5000)).ToArray());
        }
        var cats = Enumerable.Range(0, 41).Select(i => i == 0 ? 0 : 1 + i % 5).ToArray();
        var d = DinProtocol.Build(seq, cats, new DinProtocolOptions(MaxHistory: 6, ValidUserFraction: 0, EmbeddingDim: 4, NegativeHistory: true, MaxSessions: 3, SessionLength: 4), times).Train;
        return d;
    }

    private static void AssertSame(CtrDataset a, CtrDataset b)
    {
        Assert.Equal(a.Schema.ToJson(), b.Schema.ToJson());
        Assert.Equal(a.Count, b.Count);
        Assert.Equal(a.Labels, b.Labels);
        Assert.Equal(a.UserIds, b.UserIds);
        foreach (var (k, v) in a.Sparse) Assert.Equal(v, b.Sparse[k]);
        foreach (var (k, v) in a.Dense) Assert.Equal(v, b.Dense[k]);
        foreach (var (k, v) in a.Sequences) { Assert.Equal(v.Ids, b.Sequences[k].Ids); Assert.Equal(v.Lengths, b.Sequences[k].Lengths); }
        foreach (var (k, v) in a.Sessions) { Assert.Equal(v.Ids, b.Sessions[k].Ids); Assert.Equal(v.Lengths, b.Sessions[k].Lengths); Assert.Equal(v.Counts, b.Sessions[k].Counts); }
    }

    [Fact]
    public void RoundTripsEveryColumnKindExactly()
    {
        var d = Rich();
        var path = Path.Combine(_dir, "train.safetensors");
        DatasetCache.Save(d, path);
        AssertSame(d, DatasetCache.Load(path));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp", SearchOption.AllDirectories));
        var dense = PlantedInterest.Generate(new PlantedInterestOptions(Samples: 500, Users: 100));
        DatasetCache.Save(dense, path);                                         // overwrite in place
        AssertSame(dense, DatasetCache.Load(path));
    }

    [Fact]
    public void ReadsRowRangesLikeTake()
    {
        var d = Rich();
        var path = Path.Combine(_dir, "d.safetensors");
        DatasetCache.Save(d, path);
        using var r = DatasetCache.Open(path);
        AssertSame(d.Take(Enumerable.Range(7, 11).ToList()), r.Read(7, 11));
        Assert.Throws<ArgumentOutOfRangeException>(() => r.Read(d.Count - 2, 5));
    }

    [Fact]
    public void DamagedFilesGiveOneLineErrorsNamingTheFile()
    {
        var d = Rich();
        var path = Path.Combine(_dir, "d.safetensors");
        DatasetCache.Save(d, path);
        var bytes = File.ReadAllBytes(path);
        string Error(byte[] content)
        {
            var p = Path.Combine(_dir, "bad.safetensors");
            File.WriteAllBytes(p, content);
            var e = Assert.Throws<DataFormatException>(() => DatasetCache.Load(p));
            Assert.StartsWith(p + ": ", e.Message);
            Assert.DoesNotContain('\n', e.Message);
            return e.Message;
        }
        Assert.Contains("shorter than", Error(bytes[..5]));
        Assert.Contains("does not fit the file", Error(bytes[..100]));
        Assert.Contains("data_offsets", Error(bytes[..(bytes.Length - 8)]));
        int headerLen = (int)BitConverter.ToUInt64(bytes, 0);
        string header = Encoding.UTF8.GetString(bytes, 8, headerLen);
        byte[] WithHeader(string h)
        {
            var hb = Encoding.UTF8.GetBytes(h.PadRight(headerLen));
            Assert.Equal(headerLen, hb.Length);
            return [.. bytes[..8], .. hb, .. bytes[(8 + headerLen)..]];
        }
        Assert.Contains("not a DeepInterest dataset", Error(WithHeader(header.Replace("deepinterest-dataset", "another-kind-of-data"))));
        Assert.Contains("tensor 'labels'", Error(WithHeader(header.Replace("\"labels\"", "\"lebals\""))));
        Assert.Contains("dtype", Error(WithHeader(header.Replace("\"dtype\":\"F32\"", "\"dtype\":\"I32\""))));
        Assert.Contains("not valid JSON", Error(WithHeader("{" + header[2..])));
        // An id outside its table's vocabulary (a corrupted column) is caught when loading.
        var corrupt = (byte[])bytes.Clone();
        int itemOffset = header.IndexOf("\"sparse.item\"", StringComparison.Ordinal);
        Assert.True(itemOffset > 0);
        var begin = int.Parse(header[(header.IndexOf("data_offsets", itemOffset, StringComparison.Ordinal) + 15)..].Split(',')[0]);
        BitConverter.TryWriteBytes(corrupt.AsSpan(8 + headerLen + begin), 1_000_000);
        Assert.Contains("outside [0,", Error(corrupt));
        Assert.Contains("file not found", Assert.Throws<DataFormatException>(() => DatasetCache.Load(Path.Combine(_dir, "missing.safetensors"))).Message);
    }

    [Fact]
    public void StreamingVisitsEveryRowOnceWithMemoryBoundedByOneChunk()
    {
        // 60,000 rows with a 40-long history: a 20 MB file; chunks of 2,000 rows.
        var d = PlantedInterest.Generate(new PlantedInterestOptions(Samples: 60_000, Users: 20_000, MaxHistory: 40));
        var path = Path.Combine(_dir, "big.safetensors");
        DatasetCache.Save(d, path);
        long fileBytes = new FileInfo(path).Length;
        using var stream = new StreamingBatches(path, chunkRows: 2_000, batchSize: 256, shuffle: true, seed: 3);
        Assert.Equal(d.Count, stream.Count);
        // Warm up one epoch (buffers grow to their final size), then measure a second one.
        int rows = stream.Epoch().Sum(b => b.Count);
        Assert.Equal(d.Count, rows);
        long before = GC.GetAllocatedBytesForCurrentThread();
        double labelSum = 0; int batches = 0;
        var firstUsers = new List<int>();
        foreach (var b in stream.Epoch())
        {
            foreach (var y in b.Labels) labelSum += y;
            if (batches++ == 0) firstUsers.AddRange(b.UserIds.ToArray());
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(d.Labels.Sum(), labelSum);
        Assert.Equal(stream.BatchesPerEpoch, batches);
        Assert.True(allocated < fileBytes / 20, $"an epoch allocated {allocated:N0} bytes for a {fileBytes:N0}-byte file");
        // Another epoch starts elsewhere (chunks and rows are reshuffled with the epoch counter).
        var again = stream.Epoch().First().UserIds.ToArray();
        Assert.NotEqual(firstUsers, again);
    }

    [Fact]
    public void BucketingKeepsEveryRowAndGroupsSimilarLengths()
    {
        var d = PlantedInterest.Generate(new PlantedInterestOptions(Samples: 4_000, Users: 1_000, MinHistory: 1, MaxHistory: 40));
        double Waste(BatchIterator it, out int rows, out List<int> users)
        {
            long padded = 0, real = 0; rows = 0; users = new List<int>();
            foreach (var b in it.Epoch())
            {
                var (_, lengths, steps) = b.Sequence("hist_item");
                for (int i = 0; i < b.Count; i++) { real += lengths[i]; padded += steps; }
                rows += b.Count;
                users.AddRange(b.UserIds.ToArray());
            }
            return 1 - (double)real / padded;
        }
        double plain = Waste(new BatchIterator(d, 64, shuffle: true, seed: 2), out int n1, out var u1);
        double bucketed = Waste(new BatchIterator(d, 64, shuffle: true, seed: 2, bucketWindow: 8), out int n2, out var u2);
        Assert.Equal(d.Count, n1);
        Assert.Equal(d.Count, n2);
        Assert.Equal(u1.Order(), u2.Order());                                   // the same rows, once each
        Assert.True(bucketed < plain / 3, $"padding share {bucketed:P1} with bucketing vs {plain:P1} without");
        Waste(new BatchIterator(d, 64, shuffle: true, seed: 2, bucketWindow: 8), out _, out var u3);
        Assert.Equal(u2, u3);                                                   // seeded
    }
}
