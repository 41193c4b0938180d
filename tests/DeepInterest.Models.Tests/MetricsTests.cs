using DeepInterest.Models.Metrics;

namespace DeepInterest.Models.Tests;

public class MetricsTests
{
    [Fact]
    public void AucCountsTiesAsHalf()
    {
        // Pairs (pos, neg): (0.8 > 0.3) 1, (0.8 > 0.5) 1, (0.5 = 0.5) ½, (0.5 > 0.3) 1 → 3.5 / 4.
        Assert.Equal(0.875, CtrMetrics.Auc([0.8f, 0.5f, 0.5f, 0.3f], [1, 1, 0, 0]), 12);
        Assert.Equal(0.5, CtrMetrics.Auc([0.2f, 0.2f, 0.2f, 0.2f], [1, 0, 1, 0]), 12);
        Assert.Equal(1.0, CtrMetrics.Auc([0.9f, 0.1f], [1, 0]), 12);
        Assert.Equal(0.0, CtrMetrics.Auc([0.1f, 0.9f], [1, 0]), 12);
        Assert.True(double.IsNaN(CtrMetrics.Auc([0.1f, 0.9f], [1, 1])));
        Assert.True(double.IsNaN(CtrMetrics.Auc([], [])));
    }

    [Fact]
    public void GaucWeightsUsersAndSkipsSingleClassUsers()
    {
        float[] s = [0.9f, 0.1f, 0.2f, 0.8f, 0.7f, 0.6f, 0.5f, 0.3f];
        float[] y = [1, 0, 1, 0, 0, 1, 1, 1];
        int[] u = [1, 1, 2, 2, 2, 3, 3, 3];
        // user 1: AUC 1 (n 2, 1 pos); user 2: pos 0.2 below both negatives → 0 (n 3, 1 pos); user 3: one class → excluded.
        Assert.Equal((2 * 1.0 + 3 * 0.0) / 5, CtrMetrics.Gauc(s, y, u), 12);
        Assert.Equal(0.5, CtrMetrics.Gauc(s, y, u, GaucWeighting.Unweighted), 12);
        Assert.Equal(0.5, CtrMetrics.Gauc(s, y, u, GaucWeighting.Positives), 12);
        Assert.True(double.IsNaN(CtrMetrics.Gauc([0.5f], [1], [4])));
    }

    [Fact]
    public void LogLossClampsAndRelaImpr()
    {
        Assert.Equal(-(Math.Log(0.8) + Math.Log(0.6)) / 2, CtrMetrics.LogLoss([0.8f, 0.4f], [1, 0]), 6);
        Assert.Equal(-Math.Log(1e-7), CtrMetrics.LogLoss([0f], [1]), 6);
        Assert.Equal(0.5, CtrMetrics.RelaImpr(0.8, 0.7), 12);
    }
}
