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
    /// <summary>
    /// Scores row <paramref name="row"/> of <paramref name="data"/> in evaluation mode and returns its
    /// attention weights: every attention group's (DIN, DIEN) and every session group's (DSIN) that the
    /// model reports; none for models without attention. The model's own mode is left alone.
    /// </summary>
    public static Explanation Explain(CtrModel model, CtrDataset data, int row)
    {
        if (row < 0 || row >= data.Count) throw new ArgumentOutOfRangeException(nameof(row), $"row {row} is outside the {data.Count} rows of the data");
        var batch = new Batch();
        batch.Fill(data, [row]);
        var input = new ModelInput();
        var attention = new List<AttentionExplanation>();
        var sessions = new List<SessionExplanation>();
        float prob;
        using (Tape.NoGrad())
        using (Engine.Modules.Module.Evaluating())
        using (Arena.Begin())
        {
            input.Load(model.Schema, batch);
            var r = model.Forward(input, ForwardOutputs.Attention);
            prob = 1f / (1f + MathF.Exp(-r.Logits.Span[0]));
            var w = r.Attention;
            foreach (var g in model.Schema.Groups)
            {
                if (!w.TryGetValue(g.Name, out var weights)) continue;
                var history = g.Pairs[0].History;
                var (ids, lengths, _) = batch.Sequence(history);
                int len = lengths[0];
                attention.Add(new(g.Name, history, ids[..len], weights.Span[..len].ToArray()));
            }
            foreach (var g in model.Schema.SessionGroups)
            {
                if (!w.TryGetValue(g.Name + ".extractor", out var extractor)) continue;
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
                sessions.Add(new(g.Name, name, ids, extractor.Span[..count].ToArray(),
                    w.TryGetValue(g.Name + ".interacting", out var hw) ? hw.Span[..count].ToArray() : null, items));
            }
        }
        return new Explanation(prob, attention, sessions);
    }
}
