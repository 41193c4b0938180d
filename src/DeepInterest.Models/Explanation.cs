using DeepInterest.Data.Batches;
using DeepInterest.Engine;
using DeepInterest.Engine.Autograd;
using DeepInterest.Models.Networks;

namespace DeepInterest.Models;

/// <summary>DIN/DIEN: the pooling weight of every real history item of one attention group (oldest first).</summary>
public sealed record AttentionExplanation(string Group, string History, int[] Ids, float[] Weights);

/// <summary>
/// DSIN: one session group's sessions (ids of the group's first session feature, oldest session
/// first), the activating weights over sessions from the extractor and from the Bi-LSTM (null
/// without the interacting layer), and each behaviour's share of its session interest.
/// </summary>
public sealed record SessionExplanation(string Group, string Sessions, int[][] Ids, float[] ExtractorWeights, float[]? InteractingWeights, float[][] ItemWeights);

/// <summary>Why a model scored one row as it did.</summary>
public sealed record Explanation(float Probability, IReadOnlyList<AttentionExplanation> Attention, IReadOnlyList<SessionExplanation> Sessions);

public static class Explainer
{
    /// <summary>Scores row <paramref name="row"/> of <paramref name="data"/> in evaluation mode and returns its attention weights.</summary>
    public static Explanation Explain(CtrModel model, CtrDataset data, int row)
    {
        if (row < 0 || row >= data.Count) throw new ArgumentOutOfRangeException(nameof(row), $"row {row} is outside the {data.Count} rows of the data");
        bool wasTraining = model.Training;
        model.Eval();
        var batch = new Batch();
        batch.Fill(data, [row]);
        var input = new ModelInput();
        var attention = new List<AttentionExplanation>();
        var sessions = new List<SessionExplanation>();
        float prob;
        using (Tape.NoGrad())
        using (Arena.Begin())
        {
            input.Load(model.Schema, batch);
            prob = 1f / (1f + MathF.Exp(-model.Forward(input).Span[0]));
            var w = model.AttentionWeights;
            if (model.Options.Kind is ModelKind.Din or ModelKind.Dien)
                foreach (var g in model.Schema.Groups)
                {
                    var history = g.Pairs[0].History;
                    var (ids, lengths, _) = batch.Sequence(history);
                    int len = lengths[0];
                    attention.Add(new(g.Name, history, ids[..len], w[g.Name].Span[..len].ToArray()));
                }
            if (model.Options.Kind == ModelKind.Dsin)
                foreach (var g in model.Schema.SessionGroups)
                {
                    var name = g.Pairs[0].Sessions;
                    var sb = batch.Sessions(name);
                    int count = sb.Counts[0], l = sb.Steps;
                    var ids = new int[count][];
                    var items = new float[count][];
                    var iw = w[g.Name + ".items"].Span;
                    for (int k = 0; k < count; k++)
                    {
                        int len = sb.Lengths[k];
                        ids[k] = sb.Ids.AsSpan(k * l, len).ToArray();
                        items[k] = iw.Slice(k * l, len).ToArray();
                    }
                    sessions.Add(new(g.Name, name, ids, w[g.Name + ".extractor"].Span[..count].ToArray(),
                        w.TryGetValue(g.Name + ".interacting", out var hw) ? hw.Span[..count].ToArray() : null, items));
                }
        }
        model.Train(wasTraining);
        return new Explanation(prob, attention, sessions);
    }
}
