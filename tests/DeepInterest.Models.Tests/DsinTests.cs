using DeepInterest.Models.Layers;
using DeepInterest.Data.Batches;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Schema;
using DeepInterest.Engine;
using DeepInterest.Engine.Autograd;
using DeepInterest.Engine.Modules;
using DeepInterest.Engine.Tests;
using DeepInterest.Data.Readers;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;

namespace DeepInterest.Models.Tests;

/// <summary>DSIN: PyTorch parity (tools/golden/dsin.py), masking invariants, gradients and the session builder.</summary>
public class DsinTests
{
    private static FeatureSchema TinySchema(int s = 3, int l = 4) => new FeatureSchema
    {
        Tables = [new("user", 6, 4), new("item", 12, 4), new("cate", 5, 4)],
        Sparse = [new("user", "user"), new("item", "item"), new("cate", "cate")],
        Sessions = [new("sess_item", "item", s, l), new("sess_cate", "cate", s, l)],
        SessionGroups = [new("sessions", [new SessionPair("item", "sess_item"), new SessionPair("cate", "sess_cate")])],
    }.Validate();

    private static DsinOptions TinyOptions => new()
    {
        MlpHidden = [8, 4], MlpActivation = Activation.PRelu, SessionHeads = 2, SessionFeedForward = 6,
    };

    /// <summary>The fixture's four rows as a dataset (ids, session lengths, counts, labels).</summary>
    private static CtrDataset FixtureData(Fixture f)
    {
        var d = new CtrDataset(TinySchema(), 4);
        foreach (var name in new[] { "user", "item", "cate" }) f.Ints(name).CopyTo(d.Sparse[name], 0);
        foreach (var name in new[] { "sess_item", "sess_cate" })
        {
            var col = d.Sessions[name];
            f.Ints(name).CopyTo(col.Ids, 0);
            f.Ints("lengths").CopyTo(col.Lengths, 0);
            f.Ints("counts").CopyTo(col.Counts, 0);
        }
        f["labels"].ToArray().CopyTo(d.Labels, 0);
        d.CheckIds();
        return d;
    }

    [Fact]
    public void BiasEncodedSelfAttentionBlockMatchesPyTorch()
    {
        var f = new Fixture("dsin_block.safetensors");
        var bias = new BiasEncoding(3, 4, 8);
        var layer = new TransformerEncoderLayer(8, 2, 6, new Rng(1));
        foreach (var (name, p) in bias.NamedParameters("bias_encoding.").Concat(layer.NamedParameters("extractor.")))
            p.CopyFrom(f[name].Span);
        var x = f.Param("x");                                                     // [N, S, L, E]
        var lengths = f.Ints("lengths");
        var mask = Mask.FromLengths(lengths, 4);
        var h = layer.Forward(F.Reshape(bias.Forward(x), new Shape(6, 4, 8)), mask);
        var y = F.Reshape(F.MaskedPool(h, mask, F.Pooling.Mean), new Shape(2, 3, 8));
        Close.Equal(f["y"], y, what: "y");
        F.Sum(F.Mul(y, f["w_out"])).Backward();
        Close.Equal(f["x.grad"], x.Grad!, what: "x.grad");
        foreach (var (name, p) in bias.NamedParameters("bias_encoding.").Concat(layer.NamedParameters("extractor.")))
            Close.Equal(f[name + ".grad"], p.Grad!, rtol: 1e-4, atol: 1e-5, what: name + ".grad");
    }

    [Fact]
    public void WholeForwardAndBackwardMatchPyTorch()
    {
        var f = new Fixture("dsin_forward.safetensors");
        var data = FixtureData(f);
        var model = new Dsin(data.Schema, TinyOptions);
        var names = model.NamedParameters().Select(p => p.Name).ToHashSet();
        foreach (var (name, p) in model.NamedParameters()) p.CopyFrom(f[name].Span);
        // Every PyTorch parameter has a twin of the same name here, and vice versa.
        Assert.Equal(names.Count, names.Count(n => f.Has(n)));

        var batch = new Batch();
        batch.Fill(data, [0, 1, 2, 3]);
        using var _ = Arena.Begin();
        var input = new ModelInput();
        input.Load(data.Schema, batch);
        var logits = model.Forward(input).Logits;
        Close.Equal(f["logits"], logits, what: "logits");
        var loss = F.BinaryCrossEntropyWithLogits(logits, input.Labels);
        Close.Equal(f["loss"].Span, loss.Span, what: "loss");
        loss.Backward();
        foreach (var (name, p) in model.NamedParameters()) Close.Grad(f[name + ".grad"], p, what: name + ".grad");   // embedding tables row by row
    }

    [Fact]
    public void PaddedPositionsAndSessionsDoNotChangeTheOutput()
    {
        var f = new Fixture("dsin_forward.safetensors");
        var data = FixtureData(f);
        var model = new Dsin(data.Schema, TinyOptions);
        model.Eval();
        float[] Run(CtrDataset d)
        {
            using var _ = Arena.Begin();
            using var __ = Tape.NoGrad();
            var batch = new Batch();
            batch.Fill(d, [0, 1, 2, 3]);
            var input = new ModelInput();
            input.Load(d.Schema, batch);
            return model.Forward(input).Logits.ToArray();
        }
        var before = Run(data);
        // Write garbage ids behind every session's length and into unused sessions: the batch
        // copies only real ids, so poke the batch path directly through a dataset whose padding is dirty.
        var dirty = FixtureData(f);
        foreach (var name in new[] { "sess_item", "sess_cate" })
        {
            var col = dirty.Sessions[name];
            for (int r = 0; r < 4; r++)
                for (int s = 0; s < 3; s++)
                    for (int t = col.Lengths[r * 3 + s]; t < 4; t++) col.Ids[(r * 3 + s) * 4 + t] = 1 + (r + s + t) % 4;
        }
        Assert.Equal(before, Run(dirty));
        // A row in a batch whose other rows have more sessions (S grows) scores the same as alone.
        var alone = Run(data.Take([1, 1, 1, 1]));
        Assert.Equal(before[1], alone[0], 6);
    }

    [Fact]
    public void SessionWeightsAreReportedPerSessionAndSumToOne()
    {
        var f = new Fixture("dsin_forward.safetensors");
        var data = FixtureData(f);
        var model = new Dsin(data.Schema, TinyOptions);
        model.Eval();
        using var _ = Arena.Begin();
        var batch = new Batch();
        batch.Fill(data, [0, 1, 2, 3]);
        var input = new ModelInput();
        input.Load(data.Schema, batch);
        var attention = model.Forward(input, ForwardOutputs.Attention).Attention;
        var w = attention["sessions.extractor"].ToArray();                      // [B, S]
        var counts = new[] { 3, 1, 0, 2 };
        for (int b = 0; b < 4; b++)
        {
            double sum = 0;
            for (int s = 0; s < 3; s++) { if (s >= counts[b]) Assert.Equal(0f, w[b * 3 + s]); sum += w[b * 3 + s]; }
            Assert.Equal(counts[b] > 0 ? 1.0 : 0.0, sum, 5);
        }
        var items = attention["sessions.items"];                                // [B, S, L]
        Assert.Equal(new Shape(4, 3, 4), items.Shape);
        var iv = items.ToArray();
        Assert.Equal(1.0, iv.AsSpan(0, 2).ToArray().Sum(), 5);                 // row 0, session 0 has 2 real items
        Assert.Equal(0f, iv[2]);
    }

    [Theory]
    [InlineData(SessionEncoding.Positional, true, SessionActivation.Bilinear)]
    [InlineData(SessionEncoding.None, false, SessionActivation.ActivationUnit)]
    [InlineData(SessionEncoding.Bias, true, SessionActivation.ActivationUnit)]
    public void AblationsBuildTrainAndExposeTheirParameters(SessionEncoding enc, bool interacting, SessionActivation act)
    {
        var f = new Fixture("dsin_forward.safetensors");
        var data = FixtureData(f);
        var model = new Dsin(data.Schema, TinyOptions with { SessionEncoding = enc, SessionInteracting = interacting, SessionActivation = act, AttentionHidden = [6] });
        var names = model.NamedParameters().Select(p => p.Name).ToList();
        Assert.Equal(enc == SessionEncoding.Bias, names.Contains("sessions.sessions.bias_encoding.unit"));
        Assert.Equal(interacting, names.Any(n => n.StartsWith("sessions.sessions.interacting.")));
        Assert.Equal(act == SessionActivation.ActivationUnit, names.Contains("sessions.sessions.activate_extractor.fc.weight"));
        using var _ = Arena.Begin();
        var batch = new Batch();
        batch.Fill(data, [0, 1, 2, 3]);
        var input = new ModelInput();
        input.Load(data.Schema, batch);
        var loss = model.Loss(input);
        Assert.True(float.IsFinite(loss.Span[0]));
        loss.Backward();
        var ffn = model.NamedParameters().First(p => p.Name == "sessions.sessions.extractor.linear1.weight").Parameter;
        Assert.Contains(ffn.Grad!.ToArray(), g => g != 0);
    }

    [Fact]
    public void HeadsMustDivideTheSessionWidth()
    {
        var e = Assert.Throws<SchemaException>(() => new Dsin(TinySchema(), TinyOptions with { SessionHeads = 3 }));
        Assert.Contains("session group 'sessions'", e.Message);
    }

    [Fact]
    public void SessionsAreCutAtGapsAndKeepTheLastSessionsAndBehaviours()
    {
        // User 1 at seconds 0, 600 | 3000 | 12000, 12060 | 24000, 24060, 24100: a gap over 30 min opens a session.
        var seq = new List<int[]?> { null, new[] { 1, 2, 3, 4, 5, 6, 7, 8 } };
        var times = new List<long[]?> { null, new long[] { 0, 600, 3000, 12000, 12060, 24000, 24060, 24100 } };
        var cats = new[] { 0, 1, 1, 2, 2, 3, 3, 1, 2, 3, 1, 2 };
        var r = DinProtocol.Build(seq, cats, new DinProtocolOptions(MaxHistory: 5, ValidUserFraction: 0, EmbeddingDim: 4, MaxSessions: 2, SessionLength: 2), times);
        // Sessions: [1, 2] [3] [4, 5] [6, 7, 8].
        var s = r.Train.Sessions["sess_item"];
        // Train targets are b_2 … b_{n−1} (k = 1 … 6), rows 2k−2 (positive) and 2k−1 (negative).
        int Row(int k) => 2 * (k - 1);
        // k = 1 (target 2): history [1] → one session [1].
        Assert.Equal(1, s.Counts[Row(1)]);
        Assert.Equal([1], s.Session(Row(1), 0).ToArray());
        // k = 3 (target 4): history 1,2 | 3 → two sessions, oldest first.
        Assert.Equal(2, s.Counts[Row(3)]);
        Assert.Equal([1, 2], s.Session(Row(3), 0).ToArray());
        Assert.Equal([3], s.Session(Row(3), 1).ToArray());
        // k = 6 (target 7): history 1,2 | 3 | 4,5 | 6 → the last two sessions: [4,5] [6]; negatives share them.
        Assert.Equal([4, 5], s.Session(Row(6), 0).ToArray());
        Assert.Equal([6], s.Session(Row(6), 1).ToArray());
        Assert.Equal([4, 5], s.Session(Row(6) + 1, 0).ToArray());
        // Test target 8: history … | 6,7 → sessions [4,5] [6,7]; categories follow the items.
        var t = r.Test.Sessions["sess_item"];
        Assert.Equal([4, 5], t.Session(0, 0).ToArray());
        Assert.Equal([6, 7], t.Session(0, 1).ToArray());
        Assert.Equal([cats[6], cats[7]], r.Test.Sessions["sess_cate"].Session(0, 1).ToArray());
        r.Train.CheckIds();
    }

    [Fact]
    public void LongSessionsKeepTheirMostRecentBehaviours()
    {
        var seq = new List<int[]?> { null, new[] { 1, 2, 3, 4, 5, 6 } };
        var times = new List<long[]?> { null, new long[] { 0, 1, 2, 3, 4, 5 } };
        var cats = new[] { 0, 1, 1, 1, 1, 1, 1, 1, 1 };
        var r = DinProtocol.Build(seq, cats, new DinProtocolOptions(ValidUserFraction: 0, EmbeddingDim: 4, MaxSessions: 3, SessionLength: 3), times);
        var t = r.Test.Sessions["sess_item"];
        Assert.Equal(1, t.Counts[0]);
        Assert.Equal([3, 4, 5], t.Session(0, 0).ToArray());
    }

    [Fact]
    public void UsersWithoutTimestampsAreLeftOutWhenSessionsAreOn()
    {
        var seq = new List<int[]?> { null, new[] { 1, 2, 3 }, new[] { 4, 5, 6 } };
        var times = new List<long[]?> { null, new long[] { 0, 1, 2 }, null };
        var cats = new[] { 0, 1, 1, 1, 1, 1, 1, 1, 1 };
        var withSessions = DinProtocol.Build(seq, cats, new DinProtocolOptions(ValidUserFraction: 0, EmbeddingDim: 4, MaxSessions: 2), times);
        Assert.Equal(1, withSessions.Users);
        Assert.Equal(2, withSessions.Test.Count);
        Assert.Throws<ArgumentException>(() => DinProtocol.Build(seq, cats, new DinProtocolOptions(MaxSessions: 2)));
        var unordered = new List<long[]?> { null, new long[] { 5, 1, 2 }, new long[] { 0, 1, 2 } };
        var e = Assert.Throws<ArgumentException>(() => DinProtocol.Build(seq, cats, new DinProtocolOptions(ValidUserFraction: 0, MaxSessions: 2), unordered));
        Assert.Contains("user 1", e.Message);
    }

    [Fact]
    public void NegativeHistoriesAndSessionsLeaveTheSamplesUnchanged()
    {
        var rng = new Random(3);
        var seq = new List<int[]?> { null };
        var times = new List<long[]?> { null };
        for (int u = 0; u < 20; u++)
        {
            int n = 3 + rng.Next(8);
            seq.Add(Enumerable.Range(0, n).Select(_ => 1 + rng.Next(30)).Distinct().ToArray());
            long t = 0;
            times.Add(seq[^1]!.Select(_ => t += rng.Next(4000)).ToArray());
        }
        var cats = Enumerable.Range(0, 31).Select(i => i == 0 ? 0 : 1 + i % 4).ToArray();
        var plain = DinProtocol.Build(seq, cats, new DinProtocolOptions(ValidUserFraction: 0.2, EmbeddingDim: 4, Seed: 9), times);
        var rich = DinProtocol.Build(seq, cats, new DinProtocolOptions(ValidUserFraction: 0.2, EmbeddingDim: 4, Seed: 9, NegativeHistory: true, MaxSessions: 3), times);
        foreach (var (a, b) in new[] { (plain.Train, rich.Train), (plain.Valid, rich.Valid), (plain.Test, rich.Test) })
        {
            Assert.Equal(a.Labels, b.Labels);
            Assert.Equal(a.Sparse["item"], b.Sparse["item"]);
            Assert.Equal(a.Sequences["hist_item"].Ids, b.Sequences["hist_item"].Ids);
        }
        Assert.True(rich.Train.Sessions["sess_item"].Counts.Sum() > 0);
    }

    [SkippableFact]
    public void TaobaoSampleReadsOldestSessionFirstAndTrains()
    {
        var path = Path.Combine(TestPaths.SharedData, "taobao-display-ad", "paddlerec_dsin_sample.csv");
        Skip.IfNot(File.Exists(path), $"{path} is absent: the Taobao DSIN sample lives in ../shared/data beside the repository");
        var (d, enc) = TaobaoDsin.Read(path);
        Assert.Equal(512, d.Count);
        Assert.Equal(23, (int)d.Labels.Sum());
        var cate = d.Sessions["sess_cate"];
        Assert.Equal(461, cate.Counts.Count(c => c == 5));
        Assert.Equal(5, cate.Counts.Count(c => c == 0));
        // Row 1 of the file: sess1_cate = 5672|5672|5672|5672|0…, the 4th most recent of 5 → our session 3.
        Assert.Equal(Enumerable.Repeat(enc["cate"].Encode("5672"), 4), cate.Session(0, 3).ToArray());
        var model = CtrModel.Create(d.Schema, new DsinOptions { MlpHidden = [16, 8], SessionHeads = 4 });
        var fit = new Trainer(new TrainOptions { Epochs = 1, BatchSize = 64 }).Fit(model, d, d);
        Assert.True(double.IsFinite(fit.History[0].TrainLoss));
    }

    [Fact]
    public void TaobaoReaderNamesTheCellOfAnInconsistentSession()
    {
        var dir = Directory.CreateTempSubdirectory("dsin");
        var path = Path.Combine(dir.FullName, "bad.csv");
        var header = "userid,adgroup_id,pid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,occupation,new_user_class_level,campaign_id,customer,cate_id,brand,price,sess_count,"
            + string.Join(",", Enumerable.Range(0, 5).SelectMany(k => new[] { $"sess{k}_cate", $"sess{k}_brand" })) + ",label";
        string Row(int count, string s1) => "1,2,0,0,1,0,3,0,2,0,0,5,6,7,8,0.5," + count + "," + "3|4,9|9," + s1 + "," + s1 + ",,,,,,," + "1";
        File.WriteAllLines(path, [header, Row(2, "5"), Row(1, "5")]);
        var e = Assert.Throws<DataFormatException>(() => TaobaoDsin.Read(path));
        Assert.Equal($"{path}:3:20: 'sess_count' is 1 but session 1 is non-empty", e.Message);
        File.WriteAllLines(path, [header, Row(2, "5|0|6")]);
        e = Assert.Throws<DataFormatException>(() => TaobaoDsin.Read(path));
        Assert.StartsWith($"{path}:2:20: 'sess1_cate' expected", e.Message);
        dir.Delete(true);
    }

    [Fact]
    public void ExplainerReturnsSessionsOldestFirstWithTheirWeights()
    {
        var f = new Fixture("dsin_forward.safetensors");
        var data = FixtureData(f);
        var model = new Dsin(data.Schema, TinyOptions);
        var x = Explainer.Explain(model, data, 0);
        Assert.Empty(x.Attention);
        var g = Assert.Single(x.Sessions);
        Assert.Equal(3, g.Ids.Length);
        Assert.Equal(data.Sessions["sess_item"].Session(0, 1).ToArray(), g.Ids[1]);
        Assert.Equal(1.0, g.ExtractorWeights.Sum(), 5);
        Assert.Equal(1.0, g.InteractingWeights!.Sum(), 5);
        Assert.All(g.ItemWeights, w => Assert.Equal(1.0, w.Sum(), 5));
        // The probability is the model's own score for that row.
        var p = Predictor.Predict(model, data)[0];
        Assert.Equal(p, x.Probability, 6);
        var none = Explainer.Explain(model, data, 2);                           // a row without sessions
        Assert.Empty(none.Sessions[0].Ids);
    }
}
