namespace DeepInterest.Engine;

/// <summary>
/// A seeded random source (xoshiro128** with a SplitMix64 seeder): identical streams for the
/// same seed on every platform and .NET version, and cheap to save and restore (four words).
/// </summary>
public sealed class Rng
{
    private uint _s0, _s1, _s2, _s3;
    private double? _spareNormal;

    public Rng(ulong seed)
    {
        ulong z = seed;
        ulong Next() { z += 0x9E3779B97F4A7C15UL; ulong r = z; r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9UL; r = (r ^ (r >> 27)) * 0x94D049BB133111EBUL; return r ^ (r >> 31); }
        ulong a = Next(), b = Next();
        _s0 = (uint)a; _s1 = (uint)(a >> 32); _s2 = (uint)b; _s3 = (uint)(b >> 32);
        if ((_s0 | _s1 | _s2 | _s3) == 0) _s0 = 1;
    }

    /// <summary>The generator state, for checkpoints.</summary>
    public uint[] GetState() => [_s0, _s1, _s2, _s3, _spareNormal.HasValue ? 1u : 0u,
        (uint)BitConverter.DoubleToUInt64Bits(_spareNormal ?? 0), (uint)(BitConverter.DoubleToUInt64Bits(_spareNormal ?? 0) >> 32)];

    public void SetState(uint[] s)
    {
        if (s.Length != 7) throw new ArgumentException("Rng state must have 7 words.");
        (_s0, _s1, _s2, _s3) = (s[0], s[1], s[2], s[3]);
        _spareNormal = s[4] != 0 ? BitConverter.UInt64BitsToDouble(s[5] | ((ulong)s[6] << 32)) : null;
    }

    public uint NextUInt()
    {
        uint result = BitRotate(_s1 * 5, 7) * 9;
        uint t = _s1 << 9;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitRotate(_s3, 11);
        return result;
    }

    private static uint BitRotate(uint x, int k) => (x << k) | (x >> (32 - k));

    /// <summary>Uniform in [0, 1) with 24 random bits (every value exactly representable as float).</summary>
    public float NextFloat() => (NextUInt() >> 8) * (1f / (1 << 24));

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (((ulong)NextUInt() << 21) ^ (NextUInt() >> 11)) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n) without modulo bias.</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), "n must be positive.");
        ulong m = (ulong)NextUInt() * (ulong)n;
        uint l = (uint)m;
        if (l < (uint)n)
        {
            uint t = (uint)(-n) % (uint)n;
            while (l < t) { m = (ulong)NextUInt() * (ulong)n; l = (uint)m; }
        }
        return (int)(m >> 32);
    }

    /// <summary>Uniform integer in [lo, hi).</summary>
    public int NextInt(int lo, int hi) => lo + NextInt(hi - lo);

    /// <summary>Standard normal (Box–Muller, pairs cached).</summary>
    public double NextGaussian()
    {
        if (_spareNormal is { } s) { _spareNormal = null; return s; }
        double u1, u2;
        do u1 = NextDouble(); while (u1 <= double.Epsilon);
        u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1)), th = 2 * Math.PI * u2;
        _spareNormal = r * Math.Sin(th);
        return r * Math.Cos(th);
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
