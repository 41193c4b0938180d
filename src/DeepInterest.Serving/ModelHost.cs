using DeepInterest.Models.Serving;
using Microsoft.Extensions.Logging;

namespace DeepInterest.Serving;

/// <summary>
/// The model being served, swapped atomically on reload: a request takes the current ranker once
/// and finishes on it, so a reload never changes a model under a request in flight; a folder that
/// fails to load is refused and the current model keeps serving.
/// </summary>
public sealed class ModelHost(string directory, ILogger<ModelHost> log)
{
    private volatile Loaded? _current;
    private readonly object _reloading = new();

    /// <summary>
    /// A loaded model with its sequence number (1 for the first load, +1 per successful reload), its
    /// description for GET /v1/model and its example requests for the page, both read once at load.
    /// </summary>
    public sealed record Loaded(Ranker Ranker, int Version)
    {
        public object Description { get; } = ServingApp.Describe(Ranker, Version);
        public System.Text.Json.Nodes.JsonNode Examples { get; } = Page.Examples(Ranker);
    }

    /// <summary>The folder the model is (re)loaded from.</summary>
    public string Directory { get; } = directory;

    /// <summary>The model serving now, or null before the first load finished.</summary>
    public Loaded? Current => _current;

    /// <summary>Loads the folder; on failure the current model stays and the one-line reason is returned.</summary>
    public (bool Ok, string Message, Loaded? Model) Reload()
    {
        lock (_reloading)
        {
            try
            {
                var ranker = Ranker.Open(Directory);
                var next = new Loaded(ranker, (_current?.Version ?? 0) + 1);
                _current = next;
                log.LogInformation("loaded {Kind} model version {Version} from {Dir}", ranker.Model.Kind, next.Version, Directory);
                return (true, $"loaded {ranker.Model.Kind} model version {next.Version} from {Directory}", next);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                var reason = e.Message.Split('\n')[0];
                if (_current is not null) log.LogError("reload of {Dir} refused: {Reason}; still serving version {Version}", Directory, reason, _current.Version);
                return (false, reason, _current);
            }
        }
    }
}
