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
/// </summary>
public static class ModelStore
{
    public const int FormatVersion = 1;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static void Save(string dir, CtrModel model, IReadOnlyDictionary<string, double>? metrics = null)
    {
        Directory.CreateDirectory(dir);
        SafeTensors.Save(Path.Combine(dir, "weights.safetensors"), model.StateDict());
        var manifest = new JsonObject
        {
            ["format_version"] = FormatVersion,
            ["kind"] = JsonSerializer.SerializeToNode(model.Options.Kind, Json),
            ["options"] = JsonSerializer.SerializeToNode(model.Options, Json),
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
        if (version != FormatVersion) throw new ModelFormatException($"{manifestPath}: format_version {version} is not supported (this build reads {FormatVersion})");
        ModelOptions options;
        FeatureSchema schema;
        try
        {
            options = root["options"].Deserialize<ModelOptions>(Json) ?? throw new JsonException("options are missing");
            schema = FeatureSchema.FromJson(root["schema"]?.ToJsonString() ?? throw new JsonException("schema is missing"));
        }
        catch (Exception e) when (e is JsonException or SchemaException or InvalidOperationException)
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
