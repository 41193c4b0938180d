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
/// Chooses the record type of a config section from one of its keys (e.g. <c>model.kind</c>), for a
/// property marked <see cref="KindedAttribute"/>. Each kind's record lists only its own keys.
/// </summary>
public interface IKindResolver
{
    /// <summary>The key that names the kind (e.g. <c>kind</c>).</summary>
    string Key { get; }
    /// <summary>The kind used when the section does not name one.</summary>
    string Default { get; }
    /// <summary>Every kind, in the order to list them.</summary>
    IReadOnlyList<string> Kinds { get; }
    /// <summary>The record type of <paramref name="kind"/>, or null for an unknown kind.</summary>
    Type? Resolve(string kind);
}

/// <summary>Marks a section whose record type is chosen by <see cref="IKindResolver"/> (a parameterless class).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class KindedAttribute(Type resolver) : Attribute
{
    public IKindResolver Resolver { get; } = (IKindResolver)Activator.CreateInstance(resolver)!;
}

/// <summary>
/// Binds YAML to immutable config records strictly: every key must be a known property (unknown
/// keys are errors naming file, line, column and the closest valid key), values must parse as the
/// property's type, and <c>--set a.b=value</c> overrides are applied before binding with the same checks.
/// Records are classes with init-only properties and a parameterless constructor; a property is a key
/// when it is marked <see cref="KeyAttribute"/> (its name is given) or
/// <see cref="System.ComponentModel.DescriptionAttribute"/> (its name is the property's in snake_case,
/// as the model manifests spell it). A section marked <see cref="KindedAttribute"/> is bound to the
/// record of the kind it names, so a key of another kind is refused with the kind it belongs to.
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

        // A kind chosen on the command line decides which keys the other overrides may name.
        foreach (var o in overrides.OrderBy(o => NamesKind(o, typeof(T)) ? 0 : 1)) ApplyOverride(root, o, typeof(T));
        return (T)Bind(root, typeof(T), source, "");
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    /// <summary>Whether <paramref name="assignment"/> sets the key that names a kinded section's kind.</summary>
    private static bool NamesKind(string assignment, Type type)
    {
        int eq = assignment.IndexOf('=');
        if (eq <= 0) return false;
        var path = assignment[..eq].Trim().Split('.');
        var t = type;
        for (int i = 0; i < path.Length - 1; i++)
        {
            var prop = Properties(t).FirstOrDefault(p => p.Key == path[i]).Prop;
            if (prop is null) return false;
            if (prop.GetCustomAttribute<KindedAttribute>() is { } k) return i == path.Length - 2 && path[^1] == k.Resolver.Key;
            t = prop.PropertyType;
        }
        return false;
    }

    private static void ApplyOverride(YamlMappingNode root, string assignment, Type type)
    {
        int eq = assignment.IndexOf('=');
        if (eq <= 0) throw new ConfigException($"--set {assignment}: expected key=value (for example train.epochs=5)");
        var path = assignment[..eq].Trim().Split('.');
        string value = assignment[(eq + 1)..].Trim();
        var node = root;
        var t = type;
        IKindResolver? kinded = null;
        for (int i = 0; i < path.Length; i++)
        {
            var props = Properties(t);
            var prop = props.FirstOrDefault(p => p.Key == path[i]);
            if (kinded is not null && path[i] == kinded.Key)
            {
                if (i != path.Length - 1) throw new ConfigException($"--set {assignment}: '{string.Join('.', path[..(i + 1)])}' is a single value");
                if (kinded.Resolve(value) is null) throw new ConfigException($"--set {assignment}: '{string.Join('.', path[..(i + 1)])}' must be one of {string.Join(", ", kinded.Kinds)}, got '{value}'{Suggest(value, kinded.Kinds)}");
                node.Children[new YamlScalarNode(path[i])] = new YamlScalarNode(value);
                return;
            }
            if (prop.Prop is null)
                throw new ConfigException($"--set {assignment}: {UnknownKey(string.Join('.', path[..(i + 1)]), path[i], props, kinded, KindOf(node, kinded))}");
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
                kinded = prop.Prop.GetCustomAttribute<KindedAttribute>()?.Resolver;
                t = kinded is null ? prop.Prop.PropertyType : kinded.Resolve(KindOf(cm, kinded)) ?? throw new ConfigException($"--set {assignment}: '{string.Join('.', path[..(i + 1)])}.{kinded.Key}' names an unknown kind '{KindOf(cm, kinded)}'; the kinds are {string.Join(", ", kinded.Kinds)}");
            }
        }
    }

    /// <summary>The kind a kinded section names (its discriminator key's value, else the default).</summary>
    private static string KindOf(YamlMappingNode node, IKindResolver? kinded) =>
        kinded is null ? "" : node.Children.TryGetValue(new YamlScalarNode(kinded.Key), out var v) && v is YamlScalarNode { Value: { } s } ? s : kinded.Default;

    /// <summary>"unknown key 'x'" with the closest key, or the kinds that do have it.</summary>
    private static string UnknownKey(string dotted, string key, List<(string Key, PropertyInfo Prop)> props, IKindResolver? kinded, string kind)
    {
        if (kinded is not null)
        {
            var owners = kinded.Kinds.Where(k => Properties(kinded.Resolve(k)!).Any(p => p.Key == key)).ToList();
            if (owners.Count > 0)
                return $"'{dotted}' is an option of {string.Join(", ", owners)}, not of {kind} (set by '{kinded.Key}')";
            return $"unknown key '{dotted}' for kind {kind}{Suggest(key, props.Select(p => p.Key).Append(kinded.Key))}";
        }
        return $"unknown key '{dotted}'{Suggest(key, props.Select(p => p.Key))}";
    }

    private static List<(string Key, PropertyInfo Prop)> Properties(Type t) =>
        t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .Select(p => (p.GetCustomAttribute<KeyAttribute>()?.Name ?? (p.GetCustomAttribute<System.ComponentModel.DescriptionAttribute>() is null ? "" : Snake(p.Name)), p))
            .Where(x => x.Item1 != "")
            .ToList();

    private static string Description(PropertyInfo p) =>
        p.GetCustomAttribute<KeyAttribute>()?.Description ?? p.GetCustomAttribute<System.ComponentModel.DescriptionAttribute>()?.Description ?? "";

    /// <summary>The names that <typeparamref name="T"/> accepts, with nested keys dotted (for help output).</summary>
    public static IEnumerable<(string Key, string Description)> Keys(Type t, string prefix = "")
    {
        foreach (var (k, p) in Properties(t))
        {
            if (p.GetCustomAttribute<KindedAttribute>() is { } kinded)
            {
                yield return (prefix + k + "." + kinded.Resolver.Key, string.Join(", ", kinded.Resolver.Kinds));
                // Each key once, with the kinds that have it.
                var seen = new List<(string Key, string Description, List<string> Kinds)>();
                foreach (var kind in kinded.Resolver.Kinds)
                    foreach (var (key, desc) in Keys(kinded.Resolver.Resolve(kind)!, prefix + k + "."))
                    {
                        int i = seen.FindIndex(x => x.Key == key);
                        if (i < 0) seen.Add((key, desc, [kind])); else seen[i].Kinds.Add(kind);
                    }
                foreach (var (key, desc, kinds) in seen)
                    yield return (key, kinds.Count == kinded.Resolver.Kinds.Count ? desc : $"{desc} ({string.Join(", ", kinds)})");
            }
            else if (IsRecord(p.PropertyType)) foreach (var sub in Keys(p.PropertyType, prefix + k + ".")) yield return sub;
            else yield return (prefix + k, Description(p));
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
            object? value = match.Prop.GetCustomAttribute<KindedAttribute>() is { } kinded
                ? BindKinded(valueNode, kinded.Resolver, source, prefix + key)
                : Convert(valueNode, match.Prop.PropertyType, source, prefix + key);
            match.Prop.SetValue(obj, value);
        }
        return obj;
    }

    /// <summary>Binds a kinded section to the record of the kind it names (the default kind when it names none).</summary>
    private static object BindKinded(YamlNode node, IKindResolver kinded, string source, string key)
    {
        if (node is not YamlMappingNode m) throw new ConfigException($"{source}:{node.Start.Line}:{node.Start.Column}: '{key}' must be a mapping of keys");
        var kind = KindOf(m, kinded);
        var type = kinded.Resolve(kind);
        if (type is null)
        {
            var at = m.Children[new YamlScalarNode(kinded.Key)];
            throw new ConfigException($"{source}:{at.Start.Line}:{at.Start.Column}: '{key}.{kinded.Key}' must be one of {string.Join(", ", kinded.Kinds)}, got '{kind}'{Suggest(kind, kinded.Kinds)}");
        }
        var obj = Activator.CreateInstance(type)!;
        var props = Properties(type);
        foreach (var (keyNode, valueNode) in m.Children)
        {
            var name = (keyNode as YamlScalarNode)?.Value ?? "";
            if (name == kinded.Key) continue;
            var match = props.FirstOrDefault(p => p.Key == name);
            if (match.Prop is null)
                throw new ConfigException($"{source}:{keyNode.Start.Line}:{keyNode.Start.Column}: {UnknownKey(key + "." + name, name, props, kinded, kind)}");
            match.Prop.SetValue(obj, Convert(valueNode, match.Prop.PropertyType, source, key + "." + name));
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
