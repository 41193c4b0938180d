namespace DeepInterest.Models.Metrics;

/// <summary>How per-user AUCs are averaged into GAUC.</summary>
public enum GaucWeighting
{
    /// <summary>Σ_u n_u·AUC_u / Σ_u n_u, n_u = the user's impressions (DIN paper §5.1).</summary>
    Impressions,
    /// <summary>Plain mean of the per-user AUCs.</summary>
    Unweighted,
    /// <summary>Weights are the users' numbers of positives.</summary>
    Positives,
}

/// <summary>Binary-classification metrics for CTR models, computed in double precision.</summary>
public static class CtrMetrics
{
    /// <summary>
    /// Area under the ROC curve via the Mann–Whitney statistic: (Σ ranks of positives − P(P+1)/2)/(P·N),
    /// with tied scores given their average rank (so a tie counts one half). NaN when either class is absent.
    /// </summary>
    public static double Auc(ReadOnlySpan<float> scores, ReadOnlySpan<float> labels)
    {
        if (scores.Length != labels.Length) throw new ArgumentException($"AUC: {scores.Length} scores but {labels.Length} labels.");
        int n = scores.Length;
        var idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        var s = scores.ToArray();
        Array.Sort(s, idx);
        double rankSumPos = 0;
        long pos = 0;
        for (int i = 0; i < n;)
        {
            int j = i;
            while (j + 1 < n && s[j + 1] == s[i]) j++;
            double avgRank = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++)
                if (labels[idx[k]] > 0.5f) { rankSumPos += avgRank; pos++; }
            i = j + 1;
        }
        long neg = n - pos;
        if (pos == 0 || neg == 0) return double.NaN;
        return (rankSumPos - pos * (pos + 1) / 2.0) / ((double)pos * neg);
    }

    /// <summary>Mean binary cross-entropy with probabilities clamped to [1e-7, 1 − 1e-7].</summary>
    public static double LogLoss(ReadOnlySpan<float> probs, ReadOnlySpan<float> labels)
    {
        if (probs.Length != labels.Length) throw new ArgumentException($"logloss: {probs.Length} probabilities but {labels.Length} labels.");
        if (probs.Length == 0) return double.NaN;
        double s = 0;
        for (int i = 0; i < probs.Length; i++)
        {
            double p = Math.Clamp(probs[i], 1e-7, 1 - 1e-7);
            s -= labels[i] > 0.5f ? Math.Log(p) : Math.Log(1 - p);
        }
        return s / probs.Length;
    }

    /// <summary>
    /// Group AUC over users: the AUC of each user that has both a positive and a negative sample,
    /// averaged with the chosen weighting. Users with one label class are excluded. NaN if none qualifies.
    /// </summary>
    public static double Gauc(ReadOnlySpan<float> scores, ReadOnlySpan<float> labels, ReadOnlySpan<int> users, GaucWeighting weighting = GaucWeighting.Impressions)
    {
        if (scores.Length != labels.Length || users.Length != labels.Length)
            throw new ArgumentException($"GAUC: {scores.Length} scores, {labels.Length} labels and {users.Length} user ids must be equal in number.");
        var groups = new Dictionary<int, List<int>>();
        for (int i = 0; i < users.Length; i++)
        {
            if (!groups.TryGetValue(users[i], out var l)) groups[users[i]] = l = new List<int>();
            l.Add(i);
        }
        double num = 0, den = 0;
        foreach (var rows in groups.Values)
        {
            var s = new float[rows.Count]; var y = new float[rows.Count];
            int positives = 0;
            for (int k = 0; k < rows.Count; k++) { s[k] = scores[rows[k]]; y[k] = labels[rows[k]]; if (y[k] > 0.5f) positives++; }
            if (positives == 0 || positives == rows.Count) continue;
            double w = weighting switch { GaucWeighting.Impressions => rows.Count, GaucWeighting.Positives => positives, _ => 1 };
            num += w * Auc(s, y);
            den += w;
        }
        return den == 0 ? double.NaN : num / den;
    }

    /// <summary>RelaImpr (DIN paper eq. 11): (AUC(model) − 0.5)/(AUC(base) − 0.5) − 1.</summary>
    public static double RelaImpr(double auc, double baseAuc) => (auc - 0.5) / (baseAuc - 0.5) - 1;
}

/// <summary>AUC, GAUC and logloss of one evaluation.</summary>
public sealed record EvalMetrics(double Auc, double Gauc, double LogLoss, int Samples)
{
    public static EvalMetrics Compute(ReadOnlySpan<float> probs, ReadOnlySpan<float> labels, ReadOnlySpan<int> users) =>
        new(CtrMetrics.Auc(probs, labels), CtrMetrics.Gauc(probs, labels, users), CtrMetrics.LogLoss(probs, labels), probs.Length);
}
