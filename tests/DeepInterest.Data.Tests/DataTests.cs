using DeepInterest.Data.Batches;
using DeepInterest.Data.Encoders;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Readers;
using DeepInterest.Data.Schema;
using DeepInterest.Data.Synthetic;

namespace DeepInterest.Data.Tests;

public static class TestPaths
{
    public static string RepoRoot { get; } = Find();
    private static string Find()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "DeepInterest.slnx"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
    public static string SharedData => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data"));
}

public class SchemaTests
{
    private static FeatureSchema Good => new()
    {
        Tables = [new("item", 10, 4), new("cate", 5, 4), new("user", 7, 3)],
        Sparse = [new("item", "item"), new("cate", "cate"), new("user", "user")],
        Sequences = [new("hist_item", "item", 20), new("hist_cate", "cate", 20)],
        Groups = [new("g", [new AttentionPair("item", "hist_item"), new AttentionPair("cate", "hist_cate")])],
    };

    [Fact]
    public void ValidatesAndRoundTripsThroughJson()
    {
        var s = Good.Validate();
        var back = FeatureSchema.FromJson(s.ToJson());
        Assert.Equal(s.ToJson(), back.ToJson());
        Assert.True(back.IsAttended("hist_item"));
    }

    [Fact]
    public void ErrorsNameTheFeature()
    {
        string Err(FeatureSchema s) => Assert.Throws<SchemaException>(() => s.Validate()).Message;
        Assert.Equal("feature 'item': unknown embedding table 'items'", Err(Good with { Sparse = [new("item", "items")] }));
        Assert.Equal("feature 'item': duplicate or empty name", Err(Good with { Sparse = [new("item", "item"), new("item", "cate")] }));
        Assert.Equal("feature 'hist_item': a sequence needs a maximum length ≥ 1, got 0", Err(Good with { Sequences = [new("hist_item", "item", 0), new("hist_cate", "cate", 5)] }));
        Assert.Contains("'user' has dimension 3 but 'hist_item' has 4", Err(Good with { Groups = [new("g", [new AttentionPair("user", "hist_item")])] }));
        Assert.Contains("negative history 'neg' is not a sequence feature", Err(Good with { Groups = [new("g", [new AttentionPair("item", "hist_item", "neg")])] }));
    }
}

public class EncoderAndBatchTests
{
    [Fact]
    public void CategoryEncoderReservesPaddingAndUnknown()
    {
        var e = new CategoryEncoder(minCount: 2).Fit(["a", "b", "a", "c", "c", "c"]);
        Assert.Equal(2, e.Encode("a"));
        Assert.Equal(3, e.Encode("c"));
        Assert.Equal(CategoryEncoder.Unknown, e.Encode("b"));      // below min count
        Assert.Equal(CategoryEncoder.Unknown, e.Encode("zzz"));    // unseen: never throws
        Assert.Equal(4, e.Size);
    }

    [Fact]
    public void NumericEncodersImputeAndScale()
    {
        float[] train = [1f, 2f, 2f, 3f, 10f, float.NaN];
        var std = new NumericEncoder { Scaling = NumericScaling.Standardize }.Fit(train);
        Assert.Equal(3.6f, std.Mean, 5);
        Assert.Equal((2f - 3.6f) / std.Std, std.Encode(2f), 5);
        Assert.Equal(std.Encode(2f), std.Encode(float.NaN), 5);                       // NaN → median (2)
        var mm = new NumericEncoder { Scaling = NumericScaling.MinMax }.Fit(train);
        Assert.Equal(0.5f, mm.Encode(5.5f), 5);
        Assert.Equal(1f / 9f, mm.Encode(float.PositiveInfinity), 6);                  // non-finite → median 2, then (2 − 1)/9
        var q = new NumericEncoder { Scaling = NumericScaling.Quantile }.Fit(train);
        Assert.Equal(0f, q.Encode(1f));
        Assert.Equal(0.375f, q.Encode(2f), 5);                                         // ties at ranks 1, 2 → mid 1.5 / 4
        Assert.Equal(1f, q.Encode(10f));
        Assert.Equal(1f, q.Encode(99f));                                               // unseen values never throw
        var back = System.Text.Json.JsonSerializer.Deserialize<NumericEncoder>(System.Text.Json.JsonSerializer.Serialize(q))!;
        Assert.Equal(q.Encode(2.5f), back.Encode(2.5f));
    }

    [Fact]
    public void BatchesPadToTheLongestRowOfTheBatch()
    {
        var d = PlantedInterest.Generate(new PlantedInterestOptions(Samples: 10, Users: 5, Items: 50, Categories: 5, InterestsPerUser: 2, MinHistory: 1, MaxHistory: 30));
        var b = new Batch();
        b.Fill(d, [2, 5, 7]);
        var (ids, lengths, steps) = b.Sequence("hist_item");
        int[] expectedLengths = [d.Sequences["hist_item"].Lengths[2], d.Sequences["hist_item"].Lengths[5], d.Sequences["hist_item"].Lengths[7]];
        Assert.Equal(expectedLengths.Max(), steps);
        Assert.Equal(expectedLengths, lengths[..3]);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(d.Sequences["hist_item"].Row(new[] { 2, 5, 7 }[i]).ToArray(), ids.AsSpan(i * steps, lengths[i]).ToArray());
            Assert.All(ids.AsSpan(i * steps + lengths[i], steps - lengths[i]).ToArray(), v => Assert.Equal(0, v));
        }
        Assert.Equal(d.Labels[5], b.Labels[1]);
    }

    [Fact]
    public void ShufflingIsSeededAndCoversEveryRow()
    {
        var d = PlantedInterest.Generate(new PlantedInterestOptions(Samples: 100, Users: 50, Items: 50, Categories: 5, InterestsPerUser: 2));
        List<int> Users(ulong seed) => new BatchIterator(d, 16, true, seed).Epoch().SelectMany(b => b.UserIds.ToArray()).ToList();
        Assert.Equal(Users(3), Users(3));
        Assert.NotEqual(Users(3), Users(4));
        Assert.Equal(d.UserIds.OrderBy(u => u), Users(3).OrderBy(u => u));
    }
}

public class CsvTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "di-csv-" + Guid.NewGuid().ToString("N"));
    public CsvTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    private string Write(string text) { var p = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".csv"); File.WriteAllText(p, text); return p; }

    [Fact]
    public void BadInputNamesFileLineAndColumn()
    {
        var empty = Write("");
        Assert.Equal($"{empty}: the file is empty (a header line is required)", Assert.Throws<DataFormatException>(() => CsvTable.Read(empty)).Message);
        var t = CsvTable.Read(Write("id,age,hist\n5,NaN,1|2\n-3,inf,1|2|3|4\nx,7,\n"));
        Assert.Equal($"{t.Path}:2:2: 'age' expected a finite number, got 'NaN'", Assert.Throws<DataFormatException>(() => t.Float(0, 1)).Message);
        Assert.Contains(":3:2: 'age' expected a finite number, got 'inf'", Assert.Throws<DataFormatException>(() => t.Float(1, 1)).Message);
        Assert.Contains(":3:1: 'id' expected a non-negative integer id, got '-3'", Assert.Throws<DataFormatException>(() => t.Id(1, 0)).Message);
        Assert.Contains(":4:1: 'id' expected a non-negative integer id, got 'x'", Assert.Throws<DataFormatException>(() => t.Id(2, 0)).Message);
        Assert.Contains(":3:3: 'hist' has 4 items, more than the limit 3", Assert.Throws<DataFormatException>(() => t.List(1, 2, '|', 3, truncate: false)).Message);
        Assert.Equal(["2", "3", "4"], t.List(1, 2, '|', 3, truncate: true));   // truncation keeps the most recent
        Assert.Empty(t.List(2, 2, '|', 3, false));
        Assert.StartsWith($"{t.Path}: missing column 'label'", Assert.Throws<DataFormatException>(() => t.Column("label")).Message);
        var ragged = Write("a,b\n1,2\n3\n");
        Assert.Contains("expected 2 fields, found 1", Assert.Throws<DataFormatException>(() => CsvTable.Read(ragged)).Message);
    }

    [Fact]
    public void SkipBadRowsReportsCountAndFirstReasons()
    {
        var path = Write("id,age\n1,30\n2\n3,NaN\n4,41\n5,x\n");
        Assert.Throws<DataFormatException>(() => CsvTable.Read(path));
        var t = CsvTable.Read(path, skipBadRows: true, validate: (tab, r) => tab.Float(r, tab.Column("age")));
        Assert.Equal(2, t.Count);
        Assert.Equal(3, t.Skipped.Count);
        Assert.StartsWith("skipped 3 bad row(s), first: " + path + ":3: expected 2 fields, found 1", t.SkippedSummary());
        Assert.Contains(":4:2: 'age' expected a finite number, got 'NaN'", t.SkippedSummary());
        Assert.Equal("4", t.Text(1, 0));
    }

    [SkippableFact]
    public void ReadsTheSeedTutorialMovieLensFiles()
    {
        var dir = Path.Combine(TestPaths.SharedData, "movielens-1m-prediction-flow");
        Skip.IfNot(Directory.Exists(dir), $"{dir} is absent: the MovieLens seed files live in ../shared/data beside the repository");
        var s = MovieLensSeed.Load(Path.Combine(dir, "train.csv"), Path.Combine(dir, "test.csv"), 8, 0.1, 1);
        Assert.Equal(4832, s.Train.Count + s.Valid.Count);
        Assert.Equal(483, s.Valid.Count);
        Assert.Equal(1208, s.Test.Count);
        s.Test.CheckIds();
        Assert.InRange(s.Test.Labels.Average(), 0.58, 0.60);                 // README: positive rate 0.587 in test
        Assert.Equal(10, s.Train.Sequences["histHighRatedMovieIds"].Lengths.Max());
        Assert.All(s.Train.Dense["age"], a => Assert.InRange(a, 0f, 1f));
    }

    [Fact]
    public void SeedProtocolMinCountMapsRareValuesToUnknown()
    {
        const string header = "userId,movieId,ratting,timestamp,last,histHighRatedMovieIds,negHistMovieIds,gender,age,occupation,zipCode,title,genres,label\n";
        // Movie 7 occurs 4 times (twice as a target, once in a history, once in a negative history), movie 8 once;
        // zip 111 twice, 222 once; gender F twice, M once.
        var train = Write(header +
            "1,7,5,1,1.0,8,7,F,1,10,111,A,Drama,1\n" +
            "2,7,3,2,1.0,7,9,F,25,10,111,A,Drama,0\n" +
            "3,9,4,3,1.0,9,9,M,35,3,222,B,Comedy|Drama,1\n");
        var test = Write(header + "4,8,4,4,1.0,7|8,9|9,M,18,3,111,C,Comedy,1\n");
        var all = MovieLensSeed.Load(train, test, 4, 0.34, 1, minCount: 1);
        var kept = MovieLensSeed.Load(train, test, 4, 0.34, 1, minCount: 3);
        var movies = kept.Fitted.Categories["movieId"];
        Assert.NotEqual(CategoryEncoder.Unknown, movies.Encode("7"));             // 4 occurrences
        Assert.NotEqual(CategoryEncoder.Unknown, movies.Encode("9"));             // 5 occurrences
        Assert.Equal(CategoryEncoder.Unknown, movies.Encode("8"));                // 1 occurrence
        Assert.Equal(CategoryEncoder.Unknown, kept.Fitted.Categories["zipCode"].Encode("111"));
        Assert.NotEqual(CategoryEncoder.Unknown, all.Fitted.Categories["zipCode"].Encode("111"));
        Assert.Equal(CategoryEncoder.Unknown, kept.Test.Sparse["movieId"][0]);
        Assert.Equal([movies.Encode("7"), CategoryEncoder.Unknown], kept.Test.Sequences["histHighRatedMovieIds"].Row(0).ToArray());
        Assert.Equal(movies.Size, kept.Test.Schema.Table("movie").Vocab);
        Assert.Throws<ArgumentException>(() => MovieLensSeed.Load(train, test, 4, 0.34, 1, minCount: 0));
    }
}

public class DinProtocolTests
{
    [Fact]
    public void BuildsThePapersSamplesFromAHandMadeLog()
    {
        // Items 1..6, categories: 1→1, 2→1, 3→2, 4→2, 5→3, 6→3. User 1: 1,3,5,2; user 2: 4,6 (too short, skipped).
        int[] cate = [0, 1, 1, 2, 2, 3, 3];
        var seqs = new List<int[]?> { null, new[] { 1, 3, 5, 2 }, new[] { 4, 6 } };
        var r = DinProtocol.Build(seqs, cate, new DinProtocolOptions(MaxHistory: 2, ValidUserFraction: 0, EmbeddingDim: 4, Seed: 3));
        // Train: targets b2 = 3 (history [1]) and b3 = 5 (history [1, 3]), each with a negative; test: b4 = 2, history [3, 5] (last 2 kept).
        Assert.Equal(4, r.Train.Count);
        Assert.Equal([1f, 0f, 1f, 0f], r.Train.Labels);
        Assert.Equal(3, r.Train.Sparse["item"][0]);
        Assert.Equal(2, r.Train.Sparse["cate"][0]);
        Assert.Equal([1], r.Train.Sequences["hist_item"].Row(0).ToArray());
        Assert.Equal([1], r.Train.Sequences["hist_item"].Row(1).ToArray());            // the negative shares the history
        Assert.Equal([1, 3], r.Train.Sequences["hist_item"].Row(2).ToArray());
        Assert.Equal([1, 2], r.Train.Sequences["hist_cate"].Row(2).ToArray());
        Assert.Equal(5, r.Train.Sparse["item"][2]);
        Assert.Equal(2, r.Test.Count);
        Assert.Equal(2, r.Test.Sparse["item"][0]);
        Assert.Equal([3, 5], r.Test.Sequences["hist_item"].Row(0).ToArray());
        // Negatives are items user 1 never interacted with: only 4 and 6 qualify.
        foreach (var d in new[] { r.Train, r.Test })
            for (int i = 1; i < d.Count; i += 2) Assert.Contains(d.Sparse["item"][i], new[] { 4, 6 });
        Assert.Equal(0, r.Valid.Count);
        Assert.Equal(1, r.Users);
    }

    [Fact]
    public void ValidationTakesTheSecondToLastPairOfHeldOutUsers()
    {
        int[] cate = Enumerable.Range(0, 41).Select(i => i == 0 ? 0 : 1 + i % 4).ToArray();
        var seqs = new List<int[]?> { null };
        for (int u = 0; u < 50; u++) seqs.Add(Enumerable.Range(1 + u % 10, 6).ToArray());
        var r = DinProtocol.Build(seqs, cate, new DinProtocolOptions(MaxHistory: 10, ValidUserFraction: 0.3, EmbeddingDim: 4, Seed: 5, NegativeHistory: true));
        int validUsers = r.Valid.Count / 2;
        Assert.InRange(validUsers, 5, 25);
        Assert.Equal(2 * (50 * 4 - validUsers), r.Train.Count);                           // held-out users train on b2..b4 only
        Assert.All(Enumerable.Range(0, r.Valid.Count / 2), i => Assert.Equal(4, r.Valid.Sequences["hist_item"].Lengths[2 * i]));
        var neg = r.Train.Sequences["neg_hist_item"]; var pos = r.Train.Sequences["hist_item"];
        for (int i = 0; i < r.Train.Count; i++)
            for (int t = 0; t < pos.Lengths[i]; t++) Assert.NotEqual(pos.Ids[i * 10 + t], neg.Ids[i * 10 + t]);
    }

    [SkippableFact]
    public void BuildsTheFullMovieLens1MDataset()
    {
        var ordered = Path.Combine(TestPaths.SharedData, "movielens-1m-ordered", "ml1m_ordered_interactions.csv.gz");
        var movies = Path.Combine(TestPaths.SharedData, "movielens-1m", "movies.dat");
        Skip.IfNot(File.Exists(ordered) && File.Exists(movies), $"{ordered} or {movies} is absent: they live in ../shared/data beside the repository");
        var (seqs, cats) = MovieLens1M.Read(ordered, movies);
        Assert.Equal(1_000_209, seqs.Sum(s => s?.Length ?? 0));
        var r = DinProtocol.Build(seqs, cats, new DinProtocolOptions(MaxHistory: 20, ValidUserFraction: 0.1, EmbeddingDim: 8, Seed: 1));
        Assert.Equal(6040, r.Users);
        Assert.Equal(2 * 6040, r.Test.Count);
        Assert.Equal(2 * (1_000_209 - 2 * 6040) - r.Valid.Count, r.Train.Count);
        r.Test.CheckIds();
    }
}
