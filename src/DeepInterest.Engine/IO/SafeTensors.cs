using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace DeepInterest.Engine.IO;

/// <summary>A file that is not a valid safetensors file, with the reason in one line.</summary>
public sealed class SafeTensorsException(string message) : Exception(message);

/// <summary>One named tensor of a safetensors file, raw little-endian bytes plus dtype and shape.</summary>
public sealed record SafeTensorEntry(string Name, string DType, int[] Shape, byte[] Data)
{
    /// <summary>The values converted to float32 (F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL).</summary>
    public float[] ToFloats()
    {
        int n = Shape.Aggregate(1, (a, b) => a * b);
        var r = new float[n];
        var d = Data.AsSpan();
        switch (DType)
        {
            case "F32": MemoryMarshal.Cast<byte, float>(d).CopyTo(r); break;
            case "F64": for (int i = 0; i < n; i++) r[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(d[(i * 8)..]); break;
            case "F16": for (int i = 0; i < n; i++) r[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(d[(i * 2)..]); break;
            case "BF16": for (int i = 0; i < n; i++) r[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(d[(i * 2)..]) << 16); break;
            case "I64": for (int i = 0; i < n; i++) r[i] = BinaryPrimitives.ReadInt64LittleEndian(d[(i * 8)..]); break;
            case "I32": for (int i = 0; i < n; i++) r[i] = BinaryPrimitives.ReadInt32LittleEndian(d[(i * 4)..]); break;
            case "I16": for (int i = 0; i < n; i++) r[i] = BinaryPrimitives.ReadInt16LittleEndian(d[(i * 2)..]); break;
            case "I8": for (int i = 0; i < n; i++) r[i] = (sbyte)d[i]; break;
            case "U8": case "BOOL": for (int i = 0; i < n; i++) r[i] = d[i]; break;
            default: throw new SafeTensorsException($"tensor '{Name}': dtype {DType} cannot be converted to float32");
        }
        return r;
    }

    /// <summary>The values as 32-bit integers (integer and bool dtypes only).</summary>
    public int[] ToInts()
    {
        if (DType is "F32" or "F64" or "F16" or "BF16")
            throw new SafeTensorsException($"tensor '{Name}': dtype {DType} is not an integer type");
        var f = ToFloats();
        var r = new int[f.Length];
        for (int i = 0; i < f.Length; i++) r[i] = (int)f[i];
        return r;
    }

    /// <summary>As an engine tensor (float32).</summary>
    public Tensor ToTensor() => new(ToFloats(), Engine.Shape.Of(Shape));
}

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length N, N bytes of
/// UTF-8 JSON mapping each name to {dtype, shape, data_offsets: [begin, end)} (offsets relative to
/// the byte after the header, plus an optional "__metadata__" map of strings), then the raw data.
/// Reading validates everything and reports the first problem in one line naming the file.
/// </summary>
public static class SafeTensors
{
    private static readonly Dictionary<string, int> DTypeSizes = new()
    {
        ["F64"] = 8, ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2,
        ["I8"] = 1, ["U8"] = 1, ["BOOL"] = 1, ["U16"] = 2, ["U32"] = 4, ["U64"] = 8,
    };

    /// <summary>Largest header accepted (the reference implementation's limit is 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Reads a whole file. Throws <see cref="SafeTensorsException"/> for any malformed content.</summary>
    public static (List<SafeTensorEntry> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SafeTensorsException($"{path}: cannot read: {e.Message}");
        }
        try { return Parse(bytes); }
        catch (SafeTensorsException e) { throw new SafeTensorsException($"{path}: {e.Message}"); }
    }

    /// <summary>Parses safetensors bytes (see <see cref="Read"/>).</summary>
    public static (List<SafeTensorEntry> Tensors, Dictionary<string, string> Metadata) Parse(ReadOnlySpan<byte> bytes)
    {
        // Whatever a malformed header trips over, the caller gets one line, never a crash.
        try { return ParseCore(bytes); }
        catch (Exception e) when (e is InvalidOperationException or OverflowException or FormatException or ArgumentException or IndexOutOfRangeException)
        {
            throw new SafeTensorsException($"malformed header: {e.Message.Split('\n')[0]}");
        }
    }

    private static (List<SafeTensorEntry> Tensors, Dictionary<string, string> Metadata) ParseCore(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 8) throw new SafeTensorsException($"file is {bytes.Length} bytes, shorter than the 8-byte header length");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLen > MaxHeaderBytes) throw new SafeTensorsException($"header length {headerLen} exceeds the limit of {MaxHeaderBytes} bytes");
        if (headerLen > (ulong)(bytes.Length - 8)) throw new SafeTensorsException($"header length {headerLen} runs past the end of the file ({bytes.Length} bytes)");
        var headerBytes = bytes.Slice(8, (int)headerLen);
        var data = bytes[(8 + (int)headerLen)..];

        JsonDocument doc;
        try { doc = JsonDocument.Parse(headerBytes.ToArray()); }
        catch (JsonException e) { throw new SafeTensorsException($"header is not valid JSON: {e.Message}"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new SafeTensorsException("header is not a JSON object");

        var tensors = new List<SafeTensorEntry>();
        var metadata = new Dictionary<string, string>();
        var spans = new List<(long Begin, long End, string Name)>();
        var seen = new HashSet<string>();
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (!seen.Add(prop.Name)) throw new SafeTensorsException($"duplicate tensor name '{prop.Name}'");
            if (prop.Name == "__metadata__")
            {
                if (prop.Value.ValueKind != JsonValueKind.Object) throw new SafeTensorsException("__metadata__ is not an object");
                foreach (var m in prop.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String) throw new SafeTensorsException($"__metadata__ value '{m.Name}' is not a string");
                    metadata[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            var v = prop.Value;
            if (v.ValueKind != JsonValueKind.Object) throw new SafeTensorsException($"tensor '{prop.Name}': entry is not an object");
            if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
                throw new SafeTensorsException($"tensor '{prop.Name}': missing dtype");
            string dtype = dt.GetString()!;
            if (!DTypeSizes.TryGetValue(dtype, out int esize)) throw new SafeTensorsException($"tensor '{prop.Name}': unsupported dtype {dtype}");
            if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
                throw new SafeTensorsException($"tensor '{prop.Name}': missing shape");
            var shape = new List<int>();
            long count = 1;
            foreach (var d in sh.EnumerateArray())
            {
                if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0 || dim > int.MaxValue)
                    throw new SafeTensorsException($"tensor '{prop.Name}': shape entries must be non-negative integers");
                shape.Add((int)dim);
                if (dim != 0 && count > long.MaxValue / 16 / dim)
                    throw new SafeTensorsException($"tensor '{prop.Name}': shape is too large");
                count *= dim;
            }
            if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
                throw new SafeTensorsException($"tensor '{prop.Name}': data_offsets must be [begin, end]");
            if (off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number
                || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
                throw new SafeTensorsException($"tensor '{prop.Name}': data_offsets must be non-negative with begin ≤ end");
            if (end > data.Length)
                throw new SafeTensorsException($"tensor '{prop.Name}': data_offsets [{begin}, {end}] run past the data section ({data.Length} bytes)");
            if (count * esize != end - begin)
                throw new SafeTensorsException($"tensor '{prop.Name}': shape [{string.Join(", ", shape)}] of {dtype} needs {count * esize} bytes but data_offsets span {end - begin}");
            spans.Add((begin, end, prop.Name));
            tensors.Add(new SafeTensorEntry(prop.Name, dtype, shape.ToArray(), data.Slice((int)begin, (int)(end - begin)).ToArray()));
        }
        spans.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        for (int i = 1; i < spans.Count; i++)
            if (spans[i].Begin < spans[i - 1].End)
                throw new SafeTensorsException($"tensors '{spans[i - 1].Name}' and '{spans[i].Name}' overlap in the data section");
        return (tensors, metadata);
    }

    /// <summary>Reads a file of float tensors into a name → tensor map (any float or integer dtype is converted).</summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        var (entries, _) = Read(path);
        var r = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            if (e.Shape.Length > Shape.MaxRank)
                throw new SafeTensorsException($"{path}: tensor '{e.Name}' has {e.Shape.Length} dimensions; at most {Shape.MaxRank} are supported");
            r[e.Name] = e.ToTensor();
        }
        return r;
    }

    /// <summary>Serializes float32 tensors (in the given order) with optional string metadata.</summary>
    public static byte[] Serialize(IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>();
        foreach (var (name, _) in list)
            if (!names.Add(name)) throw new ArgumentException($"Duplicate tensor name '{name}'.");
        using var headerStream = new MemoryStream();
        using (var w = new Utf8JsonWriter(headerStream))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in list)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", "F32");
                w.WriteStartArray("shape");
                for (int i = 0; i < t.Rank; i++) w.WriteNumberValue(t.Shape[i]);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + 4L * t.Size);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += 4L * t.Size;
            }
            w.WriteEndObject();
        }
        var header = headerStream.ToArray();
        int padded = (header.Length + 7) / 8 * 8;   // the data section starts 8-byte aligned
        long total = 8 + padded + list.Sum(kv => 4L * kv.Value.Size);
        var bytes = new byte[total];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        header.CopyTo(bytes, 8);
        for (int i = 8 + header.Length; i < 8 + padded; i++) bytes[i] = (byte)' ';
        int pos = 8 + padded;
        foreach (var (_, t) in list)
        {
            var src = MemoryMarshal.AsBytes(t.Span);
            if (BitConverter.IsLittleEndian) src.CopyTo(bytes.AsSpan(pos));
            else for (int i = 0; i < t.Size; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(pos + 4 * i), t.Span[i]);
            pos += 4 * t.Size;
        }
        return bytes;
    }

    /// <summary>
    /// Writes atomically: to a temporary file in the same folder, then renamed over
    /// <paramref name="path"/>, so a crash never leaves a half-written file under that name.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var bytes = Serialize(tensors, metadata);
        AtomicFile.WriteAllBytes(path, bytes);
    }
}

/// <summary>Write-to-temp-then-rename helpers.</summary>
public static class AtomicFile
{
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Environment.ProcessId + ".tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                fs.Write(bytes);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch { /* the original error matters more */ }
            throw;
        }
    }

    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Encoding.UTF8.GetBytes(text));
}
