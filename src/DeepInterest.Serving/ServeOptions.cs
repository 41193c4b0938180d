namespace DeepInterest.Serving;

/// <summary>How <c>deepinterest serve</c> runs (immutable; <see cref="Validate"/> names the bad option).</summary>
public sealed record ServeOptions
{
    /// <summary>The model folder (DIR/model from train); reloaded from the same path.</summary>
    public required string ModelDirectory { get; init; }
    /// <summary>Address to listen on (127.0.0.1 = this machine only; 0.0.0.0 = every interface).</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>TCP port (0 = any free port, printed at start).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>Most candidates one request may rank.</summary>
    public int MaxCandidates { get; init; } = 1000;
    /// <summary>Largest request body accepted, in bytes.</summary>
    public long MaxBodyBytes { get; init; } = 1 << 20;
    /// <summary>Accept <c>/admin/*</c> from any address (default: loopback only).</summary>
    public bool AdminFromAnywhere { get; init; }
    /// <summary>Log one line per request (debug level).</summary>
    public bool LogRequests { get; init; }
    /// <summary>How long in-flight requests may take to finish after SIGTERM.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public ServeOptions Validate()
    {
        if (Port is < 0 or > 65535) throw new ArgumentException($"--port must be in 0…65535, got {Port}.");
        if (MaxCandidates < 1) throw new ArgumentException($"--max-candidates must be ≥ 1, got {MaxCandidates}.");
        if (MaxBodyBytes < 1024) throw new ArgumentException($"--max-body-bytes must be ≥ 1024, got {MaxBodyBytes}.");
        if (!System.Net.IPAddress.TryParse(Host, out _) && Host != "localhost") throw new ArgumentException($"--host must be an IP address or localhost, got '{Host}'.");
        return this;
    }
}
