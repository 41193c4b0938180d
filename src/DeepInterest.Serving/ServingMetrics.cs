using Prometheus;

namespace DeepInterest.Serving;

/// <summary>The server's Prometheus metrics (prometheus-net), in a registry of its own so several servers in one process stay apart.</summary>
public sealed class ServingMetrics
{
    private readonly Counter _requests, _candidates, _reloads;
    private readonly Histogram _latency;
    private readonly Gauge _version;
    private readonly Gauge _info;

    public ServingMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var f = Metrics.WithCustomRegistry(Registry);
        _requests = f.CreateCounter("deepinterest_requests_total", "HTTP requests by endpoint and status code.", "endpoint", "status");
        _latency = f.CreateHistogram("deepinterest_request_duration_seconds", "Time from request to response, by endpoint.",
            new HistogramConfiguration { LabelNames = ["endpoint"], Buckets = Histogram.ExponentialBuckets(0.0001, 2, 16) });
        _candidates = f.CreateCounter("deepinterest_candidates_scored_total", "Candidates ranked by POST /v1/rank.");
        _reloads = f.CreateCounter("deepinterest_reloads_total", "Model reloads by result.", "result");
        _version = f.CreateGauge("deepinterest_model_version", "Sequence number of the model serving now (1 = first load).");
        _info = f.CreateGauge("deepinterest_model_info", "The model serving now (value 1).", "kind", "directory");
    }

    public CollectorRegistry Registry { get; }

    public void Request(string endpoint, int status, double seconds)
    {
        _requests.WithLabels(endpoint, status.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        _latency.WithLabels(endpoint).Observe(seconds);
    }

    public void Scored(int candidates) => _candidates.Inc(candidates);

    public void Reload(bool ok) => _reloads.WithLabels(ok ? "ok" : "refused").Inc();

    public void ModelLoaded(ModelHost.Loaded m)
    {
        _version.Set(m.Version);
        _info.WithLabels(m.Ranker.Model.Kind, m.Ranker.Scorer.Directory).Set(1);
    }
}
