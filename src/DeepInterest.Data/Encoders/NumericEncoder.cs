namespace DeepInterest.Data.Encoders;

/// <summary>How a numeric feature is scaled after imputation.</summary>
public enum NumericScaling
{
    /// <summary>Values as they are.</summary>
    None,
    /// <summary>(x − mean) / std of the training values (std 0 → 1).</summary>
    Standardize,
    /// <summary>(x − min) / (max − min), clipped to [0, 1] (constant column → 0).</summary>
    MinMax,
    /// <summary>The training values' empirical CDF in [0, 1], ties at their mid-rank (the tutorials' quantile transform with uniform output).</summary>
    Quantile,
}

/// <summary>
/// A numeric encoder fitted on the training split: missing or non-finite values (NaN, ±∞) are
/// imputed with the training median, then scaled. Serializable (public init properties); unseen
/// values at prediction time never throw.
/// </summary>
public sealed class NumericEncoder
{
    public NumericScaling Scaling { get; init; }
    public float Median { get; set; }
    public float Mean { get; set; }
    public float Std { get; set; } = 1f;
    public float Min { get; set; }
    public float Max { get; set; }
    /// <summary>Sorted training values (quantile scaling only).</summary>
    public float[] Sorted { get; set; } = [];

    public NumericEncoder Fit(IEnumerable<float> values)
    {
        var v = values.Where(float.IsFinite).OrderBy(x => x).ToArray();
        if (v.Length == 0) throw new ArgumentException("NumericEncoder: no finite training value to fit on.");
        Median = v.Length % 2 == 1 ? v[v.Length / 2] : 0.5f * (v[v.Length / 2 - 1] + v[v.Length / 2]);
        double mean = v.Average(x => (double)x);
        Mean = (float)mean;
        double sd = Math.Sqrt(v.Average(x => (x - mean) * (x - mean)));
        Std = sd > 0 ? (float)sd : 1f;
        Min = v[0];
        Max = v[^1];
        if (Scaling == NumericScaling.Quantile) Sorted = v;
        return this;
    }

    public float Encode(float x)
    {
        if (!float.IsFinite(x)) x = Median;
        return Scaling switch
        {
            NumericScaling.Standardize => (x - Mean) / Std,
            NumericScaling.MinMax => Max > Min ? Math.Clamp((x - Min) / (Max - Min), 0f, 1f) : 0f,
            NumericScaling.Quantile => Cdf(x),
            _ => x,
        };
    }

    private float Cdf(float x)
    {
        if (Sorted.Length <= 1) return 0f;
        int lo = LowerBound(x), hi = UpperBound(x);
        if (hi == lo) return Math.Clamp((lo - 0.5f) / (Sorted.Length - 1), 0f, 1f);   // between training values
        return (float)((lo + hi - 1) / 2.0 / (Sorted.Length - 1));
    }

    private int LowerBound(float x) { int lo = 0, hi = Sorted.Length; while (lo < hi) { int m = (lo + hi) / 2; if (Sorted[m] < x) lo = m + 1; else hi = m; } return lo; }
    private int UpperBound(float x) { int lo = 0, hi = Sorted.Length; while (lo < hi) { int m = (lo + hi) / 2; if (Sorted[m] <= x) lo = m + 1; else hi = m; } return lo; }
}
