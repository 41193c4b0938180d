using System.Globalization;
using System.Text;

namespace DeepInterest.Data.Readers;

/// <summary>Text that is not a Python literal; <see cref="Offset"/> is the 0-based character position of the problem.</summary>
public sealed class PythonLiteralException(string message, int offset) : FormatException(message)
{
    public int Offset { get; } = offset;
}

/// <summary>
/// Parses Python literal syntax (dicts, lists, tuples, quoted strings, numbers, True/False/None), the
/// format of McAuley's meta_*.json files, which are Python reprs, not JSON. Dicts become
/// Dictionary&lt;string, object?&gt;, lists and tuples List&lt;object?&gt;, numbers double.
/// </summary>
public static class PythonLiteral
{
    public static object? Parse(string text)
    {
        int i = 0;
        var v = Value(text, ref i, 0);
        Ws(text, ref i);
        if (i != text.Length) throw new PythonLiteralException($"unexpected '{text[i]}' after the literal", i);
        return v;
    }

    private static void Ws(string s, ref int i) { while (i < s.Length && char.IsWhiteSpace(s[i])) i++; }

    // Nesting deeper than this is no metadata record; failing here keeps a hostile line from overflowing the stack.
    private const int MaxDepth = 100;

    private static object? Value(string s, ref int i, int depth)
    {
        if (depth > MaxDepth) throw new PythonLiteralException($"nesting deeper than {MaxDepth}", i);
        Ws(s, ref i);
        if (i >= s.Length) throw new PythonLiteralException("unexpected end of input", i);
        char c = s[i];
        switch (c)
        {
            case '{':
            {
                i++;
                var d = new Dictionary<string, object?>(StringComparer.Ordinal);
                Ws(s, ref i);
                if (i < s.Length && s[i] == '}') { i++; return d; }
                while (true)
                {
                    var key = Value(s, ref i, depth + 1);
                    Ws(s, ref i);
                    Expect(s, ref i, ':');
                    d[Convert.ToString(key, CultureInfo.InvariantCulture) ?? "None"] = Value(s, ref i, depth + 1);
                    Ws(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; Ws(s, ref i); if (i < s.Length && s[i] == '}') { i++; return d; } continue; }
                    Expect(s, ref i, '}');
                    return d;
                }
            }
            case '[' or '(':
            {
                char close = c == '[' ? ']' : ')';
                i++;
                var l = new List<object?>();
                Ws(s, ref i);
                if (i < s.Length && s[i] == close) { i++; return l; }
                while (true)
                {
                    l.Add(Value(s, ref i, depth + 1));
                    Ws(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; Ws(s, ref i); if (i < s.Length && s[i] == close) { i++; return l; } continue; }
                    Expect(s, ref i, close);
                    return l;
                }
            }
            case '\'' or '"': return Str(s, ref i);
            // Python 2 reprs mark unicode/bytes strings with a u/b prefix; the text inside is the same.
            case 'u' or 'U' or 'b' or 'B' when i + 1 < s.Length && s[i + 1] is '\'' or '"': i++; return Str(s, ref i);
        }
        int start = i;
        while (i < s.Length && (char.IsLetterOrDigit(s[i]) || s[i] is '.' or '-' or '+' or '_')) i++;
        var tok = s[start..i];
        return tok switch
        {
            "True" => true,
            "False" => false,
            "None" => null,
            _ when double.TryParse(tok, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) => v,
            _ => throw new PythonLiteralException($"unexpected token '{(tok.Length > 0 ? tok : s[start].ToString())}'", start),
        };
    }

    private static void Expect(string s, ref int i, char c)
    {
        if (i >= s.Length || s[i] != c) throw new PythonLiteralException($"expected '{c}'", i);
        i++;
    }

    private static string Str(string s, ref int i)
    {
        char q = s[i++];
        var sb = new StringBuilder();
        while (true)
        {
            if (i >= s.Length) throw new PythonLiteralException("unterminated string", i);
            char c = s[i++];
            if (c == q) return sb.ToString();
            if (c != '\\') { sb.Append(c); continue; }
            if (i >= s.Length) throw new PythonLiteralException("unterminated escape", i);
            char e = s[i++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'x': sb.Append((char)Hex(s, ref i, 2)); break;
                case 'u': sb.Append((char)Hex(s, ref i, 4)); break;
                case 'U':
                    int cp = Hex(s, ref i, 8);
                    if (cp is < 0 or > 0x10FFFF or (>= 0xD800 and <= 0xDFFF)) throw new PythonLiteralException($"invalid code point \\U{cp:X8}", i - 8);
                    sb.Append(char.ConvertFromUtf32(cp));
                    break;
                default: sb.Append(e); break; // \\ \' \" and anything else literally
            }
        }
    }

    // A fixed-width hex escape; a short or non-hex escape is a format error, not an index crash.
    private static int Hex(string s, ref int i, int digits)
    {
        if (i + digits > s.Length || !int.TryParse(s.AsSpan(i, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int v))
            throw new PythonLiteralException($"bad {digits}-digit hex escape", i);
        i += digits;
        return v;
    }
}
