using System.Globalization;
using CsvHelper;
using CsvHelper.Configuration;

namespace DeepInterest.Data.Readers;

/// <summary>Bad input data, phrased as one line naming file, line and column.</summary>
public sealed class DataFormatException(string message) : Exception(message);

/// <summary>
/// A delimited text file with a header, held as string columns (CsvHelper parses quoting).
/// Accessors convert values and report bad ones as "file:line:column: 'name' expected …, got '…'".
/// </summary>
public sealed class CsvTable
{
    private readonly Dictionary<string, int> _index;
    private readonly List<string[]> _rows;
    private readonly List<int> _lines;

    private CsvTable(string path, string[] header, List<string[]> rows, List<int> lines)
    {
        Path = path;
        Header = header;
        _rows = rows;
        _lines = lines;
        _index = new Dictionary<string, int>();
        for (int i = 0; i < header.Length; i++) _index.TryAdd(header[i], i);
    }

    public string Path { get; }
    public string[] Header { get; }
    public int Count => _rows.Count;

    /// <summary>Rows dropped by <see cref="Read(string, char, bool, Action{CsvTable, int}?)"/> with skipBadRows, as "file:line: reason".</summary>
    public IReadOnlyList<string> Skipped { get; private init; } = [];

    /// <summary>
    /// Reads the whole file; every row must have as many fields as the header. With
    /// <paramref name="skipBadRows"/>, malformed rows (wrong field count, or failing
    /// <paramref name="validate"/>, which throws <see cref="DataFormatException"/>) are dropped and listed
    /// in <see cref="Skipped"/> instead of stopping the read.
    /// </summary>
    public static CsvTable Read(string path, char delimiter = ',', bool skipBadRows = false, Action<CsvTable, int>? validate = null)
    {
        var t = Read(path, delimiter);
        if (validate is null && t._bad.Count == 0) return t;
        if (!skipBadRows && t._bad.Count > 0) throw new DataFormatException(t._bad[0].Message);
        var keep = new List<string[]>();
        var lines = new List<int>();
        var skipped = t._bad;
        for (int r = 0; r < t._rows.Count; r++)
        {
            try { validate?.Invoke(t, r); keep.Add(t._rows[r]); lines.Add(t._lines[r]); }
            catch (DataFormatException e) when (skipBadRows) { skipped.Add((t._lines[r], e.Message)); }
        }
        // Reasons in file order, whichever check found them.
        return new CsvTable(path, t.Header, keep, lines) { Skipped = skipped.OrderBy(b => b.Line).Select(b => b.Message).ToList() };
    }

    /// <summary>A one-line summary of <see cref="Skipped"/>: the count and the first three reasons.</summary>
    public string SkippedSummary() =>
        Skipped.Count == 0 ? "no rows skipped" : $"skipped {Skipped.Count} bad row(s), first: {string.Join("; ", Skipped.Take(3))}";

    private List<(int Line, string Message)> _bad = [];

    private static CsvTable Read(string path, char delimiter)
    {
        var rows = new List<string[]>();
        var lines = new List<int>();
        var bad = new List<(int, string)>();
        string[] header = [];
        foreach (var (h, rec, line, error) in Records(path, delimiter))
        {
            header = h;
            if (error is not null) bad.Add((line, error));
            else if (rec is not null) { rows.Add(rec); lines.Add(line); }
        }
        return new CsvTable(path, header, rows, lines) { _bad = bad };
    }

    /// <summary>
    /// Streams the file as tables of at most <paramref name="chunkRows"/> rows each (header shared), so a
    /// file larger than memory can be encoded piece by piece; only one chunk's strings are alive at a time.
    /// Line numbers in errors stay those of the whole file. A malformed row stops the stream with its error.
    /// </summary>
    public static IEnumerable<CsvTable> ReadChunks(string path, int chunkRows, char delimiter = ',')
    {
        if (chunkRows < 1) throw new ArgumentException($"chunk size must be ≥ 1 row, got {chunkRows}.");
        var rows = new List<string[]>(chunkRows);
        var lines = new List<int>(chunkRows);
        string[] header = [];
        foreach (var (h, rec, line, error) in Records(path, delimiter))
        {
            header = h;
            if (error is not null) throw new DataFormatException(error);
            if (rec is null) continue;
            rows.Add(rec);
            lines.Add(line);
            if (rows.Count == chunkRows)
            {
                yield return new CsvTable(path, header, rows, lines);
                rows = new List<string[]>(chunkRows);
                lines = new List<int>(chunkRows);
            }
        }
        if (rows.Count > 0) yield return new CsvTable(path, header, rows, lines);
    }

    // One item per data row: the record, or the reason it is malformed (field count). The header-only
    // item (Record null, Error null) lets callers learn the header of a file without rows.
    private static IEnumerable<(string[] Header, string[]? Record, int Line, string? Error)> Records(string path, char delimiter)
    {
        if (!File.Exists(path)) throw new DataFormatException($"{path}: file not found");
        var config = new CsvConfiguration(CultureInfo.InvariantCulture) { Delimiter = delimiter.ToString(), BadDataFound = null, MissingFieldFound = null };
        using var reader = new StreamReader(path);
        using var csv = new CsvReader(reader, config);
        if (!csv.Read() || !csv.ReadHeader() || csv.HeaderRecord is not { Length: > 0 } header)
            throw new DataFormatException($"{path}: the file is empty (a header line is required)");
        yield return (header, null, 1, null);
        while (csv.Read())
        {
            var rec = csv.Parser.Record ?? [];
            if (rec.Length == 1 && rec[0] == "") continue;
            int line = csv.Parser.RawRow;
            if (rec.Length != header.Length) { yield return (header, null, line, $"{path}:{line}: expected {header.Length} fields, found {rec.Length}"); continue; }
            yield return (header, rec, line, null);
        }
    }

    /// <summary>The column index; a missing column is an error naming it and the file.</summary>
    public int Column(string name) =>
        _index.TryGetValue(name, out var i) ? i : throw new DataFormatException($"{Path}: missing column '{name}' (columns: {string.Join(", ", Header)})");

    public string Text(int row, int col) => _rows[row][col];

    /// <summary>The file line row <paramref name="row"/> started on, recorded while reading (so dropped rows never shift it).</summary>
    public int Line(int row) => _lines[row];

    /// <summary>"file:line:column" of a cell (1-based line and column), the prefix of every value error.</summary>
    public string Where(int row, int col) => $"{Path}:{_lines[row]}:{col + 1}";

    /// <summary>A signed 64-bit integer cell (timestamps); anything else is an error naming file:line:column.</summary>
    public long Integer(int row, int col)
    {
        var s = _rows[row][col];
        if (!long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            throw new DataFormatException($"{Where(row, col)}: '{Header[col]}' expected an integer, got '{s}'");
        return v;
    }

    public float Float(int row, int col)
    {
        var s = _rows[row][col];
        if (!float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !float.IsFinite(v))
            throw new DataFormatException($"{Where(row, col)}: '{Header[col]}' expected a finite number, got '{s}'");
        return v;
    }

    public long Id(int row, int col)
    {
        var s = _rows[row][col];
        if (!long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < 0)
            throw new DataFormatException($"{Where(row, col)}: '{Header[col]}' expected a non-negative integer id, got '{s}'");
        return v;
    }

    /// <summary>Tokens of a delimited list column ("" → none); at most <paramref name="maxLength"/> (error otherwise, unless truncating keeps the most recent).</summary>
    public string[] List(int row, int col, char separator, int maxLength, bool truncate)
    {
        var s = _rows[row][col];
        var items = s.Length == 0 ? [] : s.Split(separator);
        if (items.Length > maxLength)
        {
            if (!truncate) throw new DataFormatException($"{Where(row, col)}: '{Header[col]}' has {items.Length} items, more than the limit {maxLength}");
            items = items[^maxLength..];
        }
        foreach (var it in items)
            if (it.Length == 0) throw new DataFormatException($"{Where(row, col)}: '{Header[col]}' has an empty item in '{s}'");
        return items;
    }
}
