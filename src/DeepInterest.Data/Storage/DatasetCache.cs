using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using DeepInterest.Data.Batches;
using DeepInterest.Data.Readers;
using DeepInterest.Data.Schema;

namespace DeepInterest.Data.Storage;

/// <summary>
/// An encoded dataset on disk in the safetensors layout (8-byte little-endian header length, a JSON
/// header, then raw little-endian data), so PyTorch and numpy read it too. One tensor per column:
/// <c>sparse.{f}</c> I32 [N]; <c>dense.{f}</c> F32 [N]; <c>seq.{f}.ids</c> I32 [N, L],
/// <c>seq.{f}.lengths</c> I32 [N]; <c>sess.{f}.ids</c> I32 [N, S, L], <c>sess.{f}.lengths</c> I32 [N, S],
/// <c>sess.{f}.counts</c> I32 [N]; <c>labels</c> F32 [N]; <c>users</c> I32 [N]. The metadata holds
/// <c>format</c> = "deepinterest-dataset", <c>version</c> = "1" and the feature <c>schema</c> (JSON).
/// Writes are atomic (temp file, then rename). Loading reads each column straight into its array.
/// </summary>
public static class DatasetCache
{
    public const string Format = "deepinterest-dataset";
    public const int Version = 1;

    private readonly record struct Column(string Name, string DType, long[] Shape, Array Data);

    private static IEnumerable<Column> Columns(CtrDataset d)
    {
        long n = d.Count;
        var s = d.Schema;
        foreach (var f in s.Sparse) yield return new($"sparse.{f.Name}", "I32", [n], d.Sparse[f.Name]);
        foreach (var f in s.Dense) yield return new($"dense.{f.Name}", "F32", [n], d.Dense[f.Name]);
        foreach (var f in s.Sequences)
        {
            var c = d.Sequences[f.Name];
            yield return new($"seq.{f.Name}.ids", "I32", [n, f.MaxLength], c.Ids);
            yield return new($"seq.{f.Name}.lengths", "I32", [n], c.Lengths);
        }
        foreach (var f in s.Sessions)
        {
            var c = d.Sessions[f.Name];
            yield return new($"sess.{f.Name}.ids", "I32", [n, f.MaxSessions, f.MaxLength], c.Ids);
            yield return new($"sess.{f.Name}.lengths", "I32", [n, f.MaxSessions], c.Lengths);
            yield return new($"sess.{f.Name}.counts", "I32", [n], c.Counts);
        }
        yield return new("labels", "F32", [n], d.Labels);
        yield return new("users", "I32", [n], d.UserIds);
    }

    private static Span<byte> Bytes(Array a) => a switch
    {
        int[] i => MemoryMarshal.AsBytes(i.AsSpan()),
        float[] f => MemoryMarshal.AsBytes(f.AsSpan()),
        _ => throw new InvalidOperationException(),
    };

    /// <summary>Writes <paramref name="data"/> to <paramref name="path"/> (atomically).</summary>
    public static void Save(CtrDataset data, string path)
    {
        var cols = Columns(data).ToList();
        var header = new Dictionary<string, object>
        {
            ["__metadata__"] = new Dictionary<string, string> { ["format"] = Format, ["version"] = Version.ToString(), ["schema"] = data.Schema.ToJson() },
        };
        long offset = 0;
        foreach (var c in cols)
        {
            long size = Bytes(c.Data).Length;
            header[c.Name] = new { dtype = c.DType, shape = c.Shape, data_offsets = new[] { offset, offset + size } };
            offset += size;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int pad = (8 - json.Length % 8) % 8;
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                BitConverter.TryWriteBytes(len, (ulong)(json.Length + pad));
                fs.Write(len);
                fs.Write(json);
                for (int i = 0; i < pad; i++) fs.WriteByte((byte)' ');
                foreach (var c in cols) fs.Write(Bytes(c.Data));
                fs.Flush(true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Reads a whole cache file; every problem is a one-line <see cref="DataFormatException"/> naming the file.</summary>
    public static CtrDataset Load(string path)
    {
        using var r = Open(path);
        var d = r.Read(0, r.Count);
        try { d.CheckIds(); }
        catch (SchemaException e) { throw new DataFormatException($"{path}: {e.Message}"); }
        return d;
    }

    /// <summary>Opens a cache file for reading row ranges (streaming with bounded memory).</summary>
    public static CacheReader Open(string path) => new(path);

    /// <summary>
    /// Reads row ranges of a cache file: <see cref="Read(int, int)"/> returns a new dataset;
    /// <see cref="ReadInto"/> refills a dataset of at least that many rows, so a stream of chunks
    /// allocates once.
    /// </summary>
    public sealed class CacheReader : IDisposable
    {
        private readonly FileStream _fs;
        private readonly Dictionary<string, (long Begin, long End, long[] Shape, string DType)> _entries = new();
        private readonly long _dataStart;

        public string Path { get; }
        public FeatureSchema Schema { get; }
        public int Count { get; }

        internal CacheReader(string path)
        {
            Path = path;
            if (!File.Exists(path)) throw new DataFormatException($"{path}: file not found");
            _fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            try
            {
                long fileLength = _fs.Length;
                Span<byte> len = stackalloc byte[8];
                if (fileLength < 8 || _fs.Read(len) != 8) throw Bad("shorter than the 8-byte header length");
                ulong n = BitConverter.ToUInt64(len);
                if (n > (ulong)(fileLength - 8) || n > 100_000_000) throw Bad($"header length {n} does not fit the file of {fileLength} bytes");
                var json = new byte[n];
                _fs.ReadExactly(json);
                _dataStart = 8 + (long)n;
                JsonDocument doc;
                try { doc = JsonDocument.Parse(json); }
                catch (JsonException e) { throw Bad($"header is not valid JSON ({e.Message.Split('.')[0]})"); }
                using (doc)
                {
                    if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("header is not a JSON object");
                    string? schemaJson = null, format = null, version = null;
                    foreach (var p in doc.RootElement.EnumerateObject())
                    {
                        if (p.Name == "__metadata__")
                        {
                            if (p.Value.ValueKind != JsonValueKind.Object) throw Bad("__metadata__ is not an object");
                            foreach (var m in p.Value.EnumerateObject())
                            {
                                var v = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString() : null;
                                if (m.Name == "schema") schemaJson = v;
                                else if (m.Name == "format") format = v;
                                else if (m.Name == "version") version = v;
                            }
                            continue;
                        }
                        _entries[p.Name] = Entry(p, fileLength - _dataStart);
                    }
                    if (format != Format) throw Bad($"not a DeepInterest dataset (metadata format is '{format ?? "missing"}', expected '{Format}'); write it with `deepinterest prepare`");
                    if (version != Version.ToString()) throw Bad($"dataset format version {version ?? "missing"} is not supported (this build reads {Version})");
                    try { Schema = FeatureSchema.FromJson(schemaJson ?? throw Bad("metadata has no schema")); }
                    catch (SchemaException e) { throw Bad($"schema: {e.Message}"); }
                    catch (JsonException) { throw Bad("schema is not valid JSON"); }
                }
                if (!_entries.TryGetValue("labels", out var labels) || labels.Shape.Length != 1) throw Bad("tensor 'labels' [N] is missing");
                Count = checked((int)labels.Shape[0]);
                // Every column the schema implies must be present with the right dtype and shape.
                var probe = new CtrDataset(Schema, 0);
                foreach (var c in Columns(probe))
                {
                    if (!_entries.TryGetValue(c.Name, out var e)) throw Bad($"tensor '{c.Name}' is missing");
                    var want = c.Shape.ToArray();
                    want[0] = Count;
                    if (e.DType != c.DType) throw Bad($"tensor '{c.Name}' has dtype {e.DType}, expected {c.DType}");
                    if (!e.Shape.SequenceEqual(want)) throw Bad($"tensor '{c.Name}' has shape [{string.Join(", ", e.Shape)}], expected [{string.Join(", ", want)}]");
                }
            }
            catch
            {
                _fs.Dispose();
                throw;
            }
        }

        private DataFormatException Bad(string what) => new($"{Path}: {what}");

        private (long, long, long[], string) Entry(JsonProperty p, long dataLength)
        {
            var v = p.Value;
            if (v.ValueKind != JsonValueKind.Object || !v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String
                || !v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array
                || !v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
                throw Bad($"tensor '{p.Name}' needs dtype, shape and data_offsets [begin, end]");
            var shape = new List<long>();
            foreach (var d in sh.EnumerateArray())
            {
                if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long x) || x < 0 || x > int.MaxValue) throw Bad($"tensor '{p.Name}' has a bad shape");
                shape.Add(x);
            }
            if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin || end > dataLength)
                throw Bad($"tensor '{p.Name}' has data_offsets outside the {dataLength} data bytes");
            long count = 1;
            foreach (var x in shape) count = checked(count * x);
            string dtype = dt.GetString()!;
            int size = dtype is "I32" or "F32" ? 4 : throw Bad($"tensor '{p.Name}' has dtype {dtype}; a dataset holds I32 and F32 only");
            if (count * size != end - begin) throw Bad($"tensor '{p.Name}': shape [{string.Join(", ", shape)}] needs {count * size} bytes but data_offsets span {end - begin}");
            return (begin, end, shape.ToArray(), dtype);
        }

        /// <summary>Rows [start, start + count) as a new dataset.</summary>
        public CtrDataset Read(int start, int count)
        {
            var d = new CtrDataset(Schema, count);
            ReadInto(d, start, count);
            return d;
        }

        /// <summary>Fills the first <paramref name="count"/> rows of <paramref name="target"/> (same schema, ≥ count rows) from rows [start, start + count).</summary>
        public void ReadInto(CtrDataset target, int start, int count)
        {
            if (start < 0 || count < 0 || start + count > Count) throw new ArgumentOutOfRangeException(nameof(start), $"rows [{start}, {start + count}) are outside the {Count} rows of {Path}");
            if (target.Count < count) throw new ArgumentException($"the target holds {target.Count} rows, fewer than {count}");
            foreach (var c in Columns(target))
            {
                var e = _entries[c.Name];
                long rowBytes = (e.End - e.Begin) / Math.Max(1, Count);
                var dst = Bytes(c.Data)[..checked((int)(rowBytes * count))];
                _fs.Position = _dataStart + e.Begin + rowBytes * start;
                _fs.ReadExactly(dst);
            }
        }

        public void Dispose() => _fs.Dispose();
    }
}
