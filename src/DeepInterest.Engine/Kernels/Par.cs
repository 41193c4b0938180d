using System.Diagnostics;
namespace DeepInterest.Engine.Kernels;

/// <summary>A body for <see cref="Par.For{T}"/>: processes items [start, end).</summary>
public interface IRangeKernel
{
    void Run(int start, int end);
}

/// <summary>
/// Fork-join over a fixed set of worker threads with static partitioning: range
/// [0, n) is cut into <see cref="Threads"/> equal contiguous chunks, so the same thread count
/// always gives the same split (and bit-identical results when each chunk is deterministic).
/// Kernels are structs, so a call allocates nothing. Nested calls run inline, and so does a call
/// made while another thread has the workers (its parts run one after another on the caller), so
/// concurrent callers never wait for each other.
/// </summary>
public static class Par
{
    private static int _threads = Math.Max(1, Environment.ProcessorCount);
    private static long SpinTicks = Stopwatch.Frequency / 1000 * 2 / 10;      // 200 µs

    /// <summary>
    /// How long an idle worker spins for the next kernel before it blocks (default 200 µs; 0 blocks
    /// at once, which frees the core sooner and makes small parallel kernels slower).
    /// </summary>
    public static TimeSpan SpinTime
    {
        get => TimeSpan.FromSeconds(SpinTicks / (double)Stopwatch.Frequency);
        set => SpinTicks = value >= TimeSpan.Zero ? (long)(value.TotalSeconds * Stopwatch.Frequency) : throw new ArgumentOutOfRangeException(nameof(value), "SpinTime must not be negative.");
    }

    /// <summary>
    /// The least work (in elements of a memory-bound kernel) each thread's part of a split should
    /// hold. Each part's rows end up in its core's cache; an op that splits differently, or runs on one
    /// thread, then pulls them across — on these VMs about as costly as the element-wise kernel that
    /// wrote them. With 100K elements (400 KB) per part instead of 32K, the seed tutorial's net (3,300
    /// behaviours × 16, ops of ≤ 104K elements, now on one thread) trained 25% faster, the Amazon nets
    /// (6,500 × 40–80, still split) as fast.
    /// </summary>
    public const int MinElementsPerPart = 100_000;

    private static Worker[] _workers = Array.Empty<Worker>();
    private static readonly object Gate = new();
    [ThreadStatic] private static bool _inside;
    private static readonly CountdownLatch Latch = new();

    /// <summary>Worker count including the calling thread (default: processor count).</summary>
    public static int Threads
    {
        get => _threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), "Threads must be at least 1.");
            lock (Gate) _threads = value;
        }
    }

    /// <summary>
    /// Runs <paramref name="kernel"/> over [0, n). Work is split only when
    /// n ≥ 2 × <paramref name="grain"/> (each chunk worth at least one grain).
    /// </summary>
    public static void For<T>(int n, int grain, ref T kernel) where T : struct, IRangeKernel
    {
        int parts = Math.Min(_threads, grain <= 0 ? n : n / grain);
        if (parts <= 1 || _inside)
        {
            if (n > 0) kernel.Run(0, n);
            return;
        }
        // Another caller holds the workers (several threads scoring with one model): run the same
        // parts here, one after another, instead of queueing behind it. The split is the one the
        // workers would have run, so results are bit for bit those of a parallel call.
        if (!Monitor.TryEnter(Gate))
        {
            for (int p = 0; p < parts; p++)
            {
                int s = (int)((long)n * p / parts), e = (int)((long)n * (p + 1) / parts);
                if (e > s) kernel.Run(s, e);
            }
            return;
        }
        try
        {
            EnsureWorkers(parts - 1);
            Job<T>.Kernel = kernel;
            var done = Latch;
            done.Reset(parts - 1);
            for (int p = 1; p < parts; p++)
                _workers[p - 1].Post(Job<T>.Run, (int)((long)n * p / parts), (int)((long)n * (p + 1) / parts), done);
            _inside = true;
            try { kernel.Run(0, (int)((long)n / parts)); }
            finally { _inside = false; }
            done.Wait();
            Job<T>.Kernel = default;
            if (done.Error is { } e) throw new AggregateException("A parallel kernel failed.", e);
        }
        finally { Monitor.Exit(Gate); }
    }

    private static void EnsureWorkers(int count)
    {
        if (_workers.Length >= count) return;
        var w = new Worker[count];
        Array.Copy(_workers, w, _workers.Length);
        for (int i = _workers.Length; i < count; i++) w[i] = new Worker(i + 1);
        _workers = w;
    }

    private static class Job<T> where T : struct, IRangeKernel
    {
        public static T Kernel;
        public static readonly Action<int, int> Run = static (s, e) => { var k = Kernel; k.Run(s, e); };
    }

    private sealed class CountdownLatch
    {
        private int _count;
        public Exception? Error;
        public void Reset(int count) { Error = null; Volatile.Write(ref _count, count); }
        public void Signal() => Interlocked.Decrement(ref _count);
        public void Wait()
        {
            var sw = new SpinWait();
            while (Volatile.Read(ref _count) > 0) sw.SpinOnce(sleep1Threshold: -1);
        }
    }

    private sealed class Worker
    {
        private readonly SemaphoreSlim _signal = new(0);
        private Action<int, int>? _body;
        private int _start, _end;
        private CountdownLatch? _done;

        public Worker(int id)
        {
            var t = new Thread(Loop) { IsBackground = true, Name = $"deepinterest-par-{id}" };
            t.Start();
        }

        public void Post(Action<int, int> body, int start, int end, CountdownLatch done)
        {
            _body = body; _start = start; _end = end; _done = done;
            _signal.Release();
        }

        private void Loop()
        {
            _inside = true;
            while (true)
            {
                // Spin before blocking: a training step posts its kernels microseconds apart, and
                // waking a blocked thread costs tens of microseconds on these VMs — more than a
                // typical element-wise kernel. OpenMP runtimes spin the same way between regions.
                long until = Stopwatch.GetTimestamp() + SpinTicks;
                while (_signal.CurrentCount == 0 && Stopwatch.GetTimestamp() < until) Thread.SpinWait(16);
                _signal.Wait();
                var done = _done!;
                try { _body!(_start, _end); }
                catch (Exception e) { done.Error = e; }
                finally { done.Signal(); }
            }
        }
    }
}
