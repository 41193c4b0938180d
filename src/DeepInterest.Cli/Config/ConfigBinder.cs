using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace DeepInterest.Cli.Config;

/// <summary>A configuration problem, already phrased as the one line the user sees.</summary>
public sealed class ConfigException(string message) : Exception(message);

/// <summary>Marks a config property with its YAML key and a short description (for errors and docs).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class KeyAttribute(string name, string description = "") : Attribute
{
    public string Name { get; } = name;
    public string Description { get; } = description;
}

/// <summary>
/// Binds YAML to immutable config records strictly: every key must be a known property (unknown
/// keys are errors naming file, line, column and the closest valid key), values must parse as the
/// property's type, and <c>--set a.b=value</c> overrides are applied before binding with the same checks.
/// Records are classes with init-only properties marked <see cref="KeyAttribute"/> and a parameterless constructor.
/// </summary>
public static class ConfigBinder
{
    public static T LoadFile<T>(string path, IReadOnlyList<string> overrides) where T : new()
    {
        if (!File.Exists(path)) throw new ConfigException($"{path}: config file not found");
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigException($"{path}: cannot read: {e.Message}"); }
        return Load<T>(text, path, overrides);
    }

    public static T Load<T>(string yaml, string source, IReadOnlyList<string> overrides) where T : new()
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(yaml)); }
        catch (YamlException e)
        {
            throw new ConfigException($"{source}:{e.Start.Line}:{e.Start.Column}: invalid YAML: {FirstLine(e.InnerException?.Message ?? e.Message)}");
        }
        YamlMappingNode root;
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" }) root = new YamlMappingNode();
        else if (stream.Documents[0].RootNode is YamlMappingNode m) root = m;
        else throw new ConfigException($"{source}:{stream.Documents[0].RootNode.Start.Line}:{stream.Documents[0].RootNode.Start.Column}: the config must be a mapping of keys to values");

        foreach (var o in overrides) ApplyOverride(root, o, typeof(T));
        return (T)Bind(root, typeof(T), source, "");
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    private static void ApplyOverride(YamlMappingNode root, string assignment, Type type)
    {
        int eq = assignment.IndexOf('=');
        if (eq <= 0) throw new ConfigException($"--set {assignment}: expected key=value (for example train.epochs=5)");
        var path = assignment[..eq].Trim().Split('.');
        string value = assignment[(eq + 1)..].Trim();
        var node = root;
        var t = type;
        for (int i = 0; i < path.Length; i++)
        {
            var props = Properties(t);
            var prop = props.FirstOrDefault(p => p.Key == path[i]);
            if (prop.Prop is null)
                throw new ConfigException($"--set {assignment}: unknown key '{string.Join('.', path[..(i + 1)])}'{Suggest(path[i], props.Select(p => p.Key))}");
            var key = new YamlScalarNode(path[i]);
            if (i == path.Length - 1)
            {
                YamlNode v;
                if (value.StartsWith('['))
                {
                    var seq = new YamlSequenceNode();
                    foreach (var part in value.Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        seq.Add(new YamlScalarNode(part));
                    v = seq;
                }
                else v = new YamlScalarNode(value);
                node.Children[key] = v;
            }
            else
            {
                if (!node.Children.TryGetValue(key, out var child) || child is not YamlMappingNode cm)
                {
                    cm = new YamlMappingNode();
                    node.Children[key] = cm;
                }
                node = cm;
                t = prop.Prop.PropertyType;
            }
        }
    }

    private static List<(string Key, PropertyInfo Prop)> Properties(Type t) =>
        t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => (p.GetCustomAttribute<KeyAttribute>()?.Name ?? "", p))
            .Where(x => x.Item1 != "")
            .ToList();

    /// <summary>The names that <typeparamref name="T"/> accepts, with nested keys dotted (for help output).</summary>
    public static IEnumerable<(string Key, string Description)> Keys(Type t, string prefix = "")
    {
        foreach (var (k, p) in Properties(t))
        {
            var desc = p.GetCustomAttribute<KeyAttribute>()!.Description;
            if (IsRecord(p.PropertyType)) foreach (var sub in Keys(p.PropertyType, prefix + k + ".")) yield return sub;
            else yield return (prefix + k, desc);
        }
    }

    private static bool IsRecord(Type t) => t.IsClass && t != typeof(string) && !typeof(IEnumerable).IsAssignableFrom(t);

    private static object Bind(YamlMappingNode node, Type t, string source, string prefix)
    {
        var obj = Activator.CreateInstance(t)!;
        var props = Properties(t);
        foreach (var (keyNode, valueNode) in node.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            var match = props.FirstOrDefault(p => p.Key == key);
            if (match.Prop is null)
                throw new ConfigException($"{source}:{keyNode.Start.Line}:{keyNode.Start.Column}: unknown key '{prefix}{key}'{Suggest(key, props.Select(p => p.Key))}");
            object? value = Convert(valueNode, match.Prop.PropertyType, source, prefix + key);
            match.Prop.SetValue(obj, value);
        }
        return obj;
    }

    private static object? Convert(YamlNode node, Type t, string source, string key)
    {
        string Where() => $"{source}:{node.Start.Line}:{node.Start.Column}";
        var underlying = Nullable.GetUnderlyingType(t);
        if (underlying is not null)
        {
            if (node is YamlScalarNode { Value: null or "" or "null" or "~" }) return null;
            t = underlying;
        }
        if (IsRecord(t))
        {
            if (node is not YamlMappingNode m) throw new ConfigException($"{Where()}: '{key}' must be a mapping of keys");
            return Bind(m, t, source, key + ".");
        }
        if (t.IsArray)
        {
            var et = t.GetElementType()!;
            if (node is not YamlSequenceNode seq) throw new ConfigException($"{Where()}: '{key}' must be a list, e.g. [32, 16]");
            var arr = Array.CreateInstance(et, seq.Children.Count);
            for (int i = 0; i < seq.Children.Count; i++) arr.SetValue(Convert(seq.Children[i], et, source, $"{key}[{i}]"), i);
            return arr;
        }
        if (node is not YamlScalarNode s) throw new ConfigException($"{Where()}: '{key}' must be a single value");
        var text = s.Value ?? "";
        var inv = CultureInfo.InvariantCulture;
        try
        {
            if (t == typeof(string)) return text;
            if (t == typeof(int)) return int.Parse(text, NumberStyles.Integer, inv);
            if (t == typeof(long)) return long.Parse(text, NumberStyles.Integer, inv);
            if (t == typeof(float)) return float.Parse(text, NumberStyles.Float, inv);
            if (t == typeof(double)) return double.Parse(text, NumberStyles.Float, inv);
            if (t == typeof(bool))
                return text.ToLowerInvariant() switch
                {
                    "true" or "yes" or "on" => true,
                    "false" or "no" or "off" => false,
                    _ => throw new FormatException(),
                };
            if (t.IsEnum)
            {
                foreach (var name in Enum.GetNames(t))
                    if (string.Equals(Snake(name), text, StringComparison.OrdinalIgnoreCase) || string.Equals(name, text, StringComparison.OrdinalIgnoreCase))
                        return Enum.Parse(t, name);
                var names = Enum.GetNames(t).Select(Snake).ToList();
                throw new ConfigException($"{Where()}: '{key}' must be one of {string.Join(", ", names)}, got '{text}'{Suggest(text, names)}");
            }
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new ConfigException($"{Where()}: '{key}' must be {TypeName(t)}, got '{text}'");
        }
        throw new ConfigException($"{Where()}: '{key}' has an unsupported type {t.Name}");
    }

    private static string TypeName(Type t) =>
        t == typeof(int) || t == typeof(long) ? "an integer" :
        t == typeof(float) || t == typeof(double) ? "a number" :
        t == typeof(bool) ? "true or false" : t.Name;

    /// <summary>PascalCase → snake_case (enum values are written in snake case in configs).</summary>
    public static string Snake(string name)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0 && !char.IsUpper(name[i - 1])) sb.Append('_');
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }

    /// <summary>"; did you mean 'x'?" for the closest candidate within a small edit distance, else "".</summary>
    public static string Suggest(string given, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestD = int.MaxValue;
        foreach (var c in candidates)
        {
            int d = Levenshtein(given.ToLowerInvariant(), c.ToLowerInvariant());
            if (d < bestD) { bestD = d; best = c; }
        }
        return best is not null && bestD <= Math.Max(2, given.Length / 3) ? $"; did you mean '{best}'?" : "";
    }

    private static int Levenshtein(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
