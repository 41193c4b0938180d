using System.Globalization;
using System.Text;

namespace DeepInterest.Data.Readers;

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
        var v = Value(text, ref i);
        Ws(text, ref i);
        if (i != text.Length) throw new FormatException($"unexpected '{text[i]}' at offset {i} after the literal");
        return v;
    }

    private static void Ws(string s, ref int i) { while (i < s.Length && char.IsWhiteSpace(s[i])) i++; }

    private static object? Value(string s, ref int i)
    {
        Ws(s, ref i);
        if (i >= s.Length) throw new FormatException("unexpected end of input");
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
                    var key = Value(s, ref i);
                    Ws(s, ref i);
                    Expect(s, ref i, ':');
                    d[Convert.ToString(key, CultureInfo.InvariantCulture) ?? "None"] = Value(s, ref i);
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
                    l.Add(Value(s, ref i));
                    Ws(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; Ws(s, ref i); if (i < s.Length && s[i] == close) { i++; return l; } continue; }
                    Expect(s, ref i, close);
                    return l;
                }
            }
            case '\'' or '"': return Str(s, ref i);
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
            _ => throw new FormatException($"unexpected token '{(tok.Length > 0 ? tok : s[start].ToString())}' at offset {start}"),
        };
    }

    private static void Expect(string s, ref int i, char c)
    {
        if (i >= s.Length || s[i] != c) throw new FormatException($"expected '{c}' at offset {i}");
        i++;
    }

    private static string Str(string s, ref int i)
    {
        char q = s[i++];
        var sb = new StringBuilder();
        while (true)
        {
            if (i >= s.Length) throw new FormatException("unterminated string");
            char c = s[i++];
            if (c == q) return sb.ToString();
            if (c != '\\') { sb.Append(c); continue; }
            if (i >= s.Length) throw new FormatException("unterminated escape");
            char e = s[i++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'x': sb.Append((char)int.Parse(s.AsSpan(i, 2), NumberStyles.HexNumber)); i += 2; break;
                case 'u': sb.Append((char)int.Parse(s.AsSpan(i, 4), NumberStyles.HexNumber)); i += 4; break;
                case 'U': sb.Append(char.ConvertFromUtf32(int.Parse(s.AsSpan(i, 8), NumberStyles.HexNumber))); i += 8; break;
                default: sb.Append(e); break; // \\ \' \" and anything else literally
            }
        }
    }
}
