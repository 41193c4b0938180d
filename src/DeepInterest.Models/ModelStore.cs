using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DeepInterest.Data.Schema;
using DeepInterest.Engine.IO;
using DeepInterest.Models.Networks;

namespace DeepInterest.Models;

/// <summary>A saved-model folder that cannot be read, with the reason in one line.</summary>
public sealed class ModelFormatException(string message) : Exception(message);

/// <summary>
/// Saves and loads a model folder: <c>manifest.json</c> (format version, model kind and options,
/// feature schema, metrics) and <c>weights.safetensors</c> (the state dict, PyTorch key names).
/// Every file is written to a temporary name and renamed; loading is strict and reports one line.
/// Format 2 stores the options record of the model's kind (<see cref="ModelRegistry"/>) and refuses
/// an option that kind does not have; format 1 (one flat record shared by every kind) still loads:
/// its kind's options are read and the other kinds' fields it carried are ignored.
/// </summary>
public static class ModelStore
{
    public const int FormatVersion = 2;

    /// <summary>The oldest format this build reads.</summary>
    public const int OldestFormatVersion = 1;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static readonly JsonSerializerOptions StrictJson = new(Json) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    public static void Save(string dir, CtrModel model, IReadOnlyDictionary<string, double>? metrics = null)
    {
        Directory.CreateDirectory(dir);
        SafeTensors.Save(Path.Combine(dir, "weights.safetensors"), model.StateDict());
        var manifest = new JsonObject
        {
            ["format_version"] = FormatVersion,
            ["kind"] = model.Kind,
            ["options"] = JsonSerializer.SerializeToNode(model.Options, model.Options.GetType(), Json),
            ["schema"] = JsonNode.Parse(model.Schema.ToJson()),
            ["metrics"] = metrics is null ? null : JsonSerializer.SerializeToNode(metrics, Json),
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "manifest.json"), manifest.ToJsonString(Json));
    }

    public static CtrModel Load(string dir)
    {
        var manifestPath = Path.Combine(dir, "manifest.json");
        var weightsPath = Path.Combine(dir, "weights.safetensors");
        if (!Directory.Exists(dir)) throw new ModelFormatException($"{dir}: model folder not found");
        if (!File.Exists(manifestPath)) throw new ModelFormatException($"{dir}: manifest.json is missing (is this a model folder?)");
        if (!File.Exists(weightsPath)) throw new ModelFormatException($"{dir}: weights.safetensors is missing");
        JsonNode root;
        try { root = JsonNode.Parse(File.ReadAllText(manifestPath)) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new ModelFormatException($"{manifestPath}: not valid JSON: {e.Message.Split('\n')[0]}"); }
        int version = root["format_version"]?.GetValue<int>() ?? throw new ModelFormatException($"{manifestPath}: format_version is missing");
        if (version < OldestFormatVersion || version > FormatVersion)
            throw new ModelFormatException($"{manifestPath}: format_version {version} is not supported (this build reads {OldestFormatVersion} to {FormatVersion})");
        ModelOptions options;
        FeatureSchema schema;
        try
        {
            var kindName = root["kind"]?.GetValue<string>() ?? throw new JsonException("kind is missing");
            var kind = ModelRegistry.Find(kindName)
                ?? throw new JsonException($"model kind '{kindName}' is not known to this build (it knows {string.Join(", ", ModelRegistry.Kinds.Select(k => k.Name))})");
            options = (ModelOptions?)root["options"].Deserialize(kind.OptionsType, version == 1 ? Json : StrictJson) ?? throw new JsonException("options are missing");
            options.Validate();
            schema = FeatureSchema.FromJson(root["schema"]?.ToJsonString() ?? throw new JsonException("schema is missing"));
        }
        catch (Exception e) when (e is JsonException or SchemaException or InvalidOperationException or ArgumentException)
        {
            throw new ModelFormatException($"{manifestPath}: {e.Message.Split('\n')[0]}");
        }
        var model = CtrModel.Create(schema, options);
        var weights = SafeTensors.Load(weightsPath);
        try { model.LoadStateDict(weights); }
        catch (Engine.Modules.StateDictException e) { throw new ModelFormatException($"{weightsPath}: {e.Message}"); }
        model.Eval();
        return model;
    }
}
