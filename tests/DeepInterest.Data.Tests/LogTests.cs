using System.IO.Compression;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Readers;

namespace DeepInterest.Data.Tests;

/// <summary>Amazon (McAuley) files and generic behaviour logs, on hand-made files with expected samples written out.</summary>
public sealed class LogTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("di-logs").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private string Write(string name, params string[] lines)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllLines(p, lines);
        return p;
    }

    [Fact]
    public void AmazonReviewsAndMetaFollowTheDinPreprocessing()
    {
        // Users numbered by ordinal order of reviewerID (A < B), items by asin (i1 < i2 < i3 < i4),
        // categories = categories[-1][-1]; user B's reviews come out sorted by time.
        var reviews = Write("reviews.json",
            "{\"reviewerID\": \"B\", \"asin\": \"i3\", \"unixReviewTime\": 30, \"overall\": 5.0}",
            "{\"reviewerID\": \"A\", \"asin\": \"i1\", \"unixReviewTime\": 10}",
            "{\"reviewerID\": \"B\", \"asin\": \"i1\", \"unixReviewTime\": 20}",
            "{\"reviewerID\": \"B\", \"asin\": \"i2\", \"unixReviewTime\": 20}",
            "{\"reviewerID\": \"A\", \"asin\": \"i4\", \"unixReviewTime\": 5}");
        var meta = Write("meta.json",
            "{'asin': 'i1', 'categories': [['Electronics', 'Audio'], ['Electronics', 'Cables']], 'title': \"Bob's\"}",
            "{'asin': 'i2', 'categories': [['Electronics', 'Audio']]}",
            "{'asin': 'i3', 'categories': [['Electronics', 'Cables']], 'price': 3.5}",
            "{'asin': 'zz', 'categories': [['Other']]}");
        var log = AmazonMcAuley.Read(reviews, meta);
        Assert.Equal(["A", "B"], log.Users);
        Assert.Equal(["i1", "i2", "i3", "i4"], log.Items);
        Assert.Equal(["(none)", "Audio", "Cables"], log.Categories);        // i4 has no metadata
        Assert.Equal([0, 3, 2, 3, 1], log.CategoryOf);
        Assert.Equal([4, 1], log.Sequences[1]!);                              // A: i4 (t5), i1 (t10)
        Assert.Equal([1, 2, 3], log.Sequences[2]!);                           // B: i1, i2 (both t20, file order), i3
        Assert.Equal([20L, 20, 30], log.Times[2]!);
        var r = DinProtocol.Build(log.Sequences, log.CategoryOf, new DinProtocolOptions(ValidUserFraction: 0, EmbeddingDim: 4));
        Assert.Equal(2, r.Test.Count);                                       // only B has ≥ 3 reviews
        Assert.Equal(3, r.Test.Sparse["item"][0]);
        Assert.Equal([1, 2], r.Test.Sequences["hist_item"].Row(0).ToArray());
    }

    [SkippableFact]
    public void ReadsTheReal290ReviewSample()
    {
        var path = Path.Combine(TestPaths.SharedData, "amazon-electronics", "reviews_Electronics_5.head290.json.gz");
        Skip.IfNot(File.Exists(path), $"{path} is absent: the Amazon sample lives in ../shared/data beside the repository");
        var log = AmazonMcAuley.Read(path, null);
        Assert.Equal(290, log.Reviews);
        Assert.Equal(290, log.Sequences.Sum(s => s?.Length ?? 0));
        Assert.All(log.Times.Where(t => t is not null), t => Assert.True(t!.Zip(t.Skip(1)).All(p => p.First <= p.Second)));
        Assert.Equal(log.Users.Length, log.Sequences.Count(s => s is not null));
    }

    [Fact]
    public void BadAmazonLinesNameFileAndLine()
    {
        var gz = Path.Combine(_dir, "r.json.gz");
        using (var f = new GZipStream(File.Create(gz), CompressionLevel.Fastest))
        using (var w = new StreamWriter(f))
        {
            w.WriteLine("{\"reviewerID\": \"A\", \"asin\": \"i1\", \"unixReviewTime\": 10}");
            w.WriteLine("{\"reviewerID\": \"A\", \"asin\": \"i2\", \"unixReviewTime\": \"soon\"}");
        }
        Assert.Equal($"{gz}:2: 'unixReviewTime' expected an integer time", Assert.Throws<DataFormatException>(() => AmazonMcAuley.ReadReviews(gz)).Message);
        var broken = Write("b.json", "{\"reviewerID\": \"A\", \"asin\": \"i1\", \"unixReviewTime\": 10}", "{\"reviewerID\": ");
        Assert.StartsWith($"{broken}:2:", Assert.Throws<DataFormatException>(() => AmazonMcAuley.ReadReviews(broken)).Message);
        var meta = Write("m.json", "{'asin': 'i1', 'categories': [['A']]}", "{'asin': 'i2', 'categories': [['A']");
        Assert.StartsWith($"{meta}:2: expected a Python dict literal", Assert.Throws<DataFormatException>(() => AmazonMcAuley.ReadCategories(meta)).Message);
        Assert.Equal($"{Write("e.json")}: no reviews (the file is empty)", Assert.Throws<DataFormatException>(() => AmazonMcAuley.ReadReviews(Path.Combine(_dir, "e.json"))).Message);
    }

    [Fact]
    public void UnlabeledLogsGoThroughTheDinProtocol()
    {
        var p = Write("log.csv", "uid,sku,ts,cat", "u1,x,3,c1", "u1,y,1,c2", "u2,x,5,c1", "u1,z,2,c1", "u1,w,9,c2", "u2,v,6,c1");
        var log = BehaviourLog.Read(p, new BehaviourLogColumns("uid", "sku", "ts", "cat"));
        // Ids by first appearance: u1 = 1, u2 = 2; x = 1, y = 2, z = 3, w = 4; c1 = 1, c2 = 2.
        Assert.Equal([2, 3, 1, 4], log.Sequences[1]!);                        // y (t1), z (t2), x (t3), w (t9)
        Assert.Equal([1, 5], log.Sequences[2]!);
        Assert.Equal([0, 1, 2, 1, 2, 1], log.CategoryOf);
        var r = DinProtocol.Build(log.Sequences, log.CategoryOf, new DinProtocolOptions(ValidUserFraction: 0, EmbeddingDim: 4), log.Times);
        Assert.Equal(4, r.Train.Count);                                      // u1's targets z and x, each with a negative (u2 has 2 rows)
        Assert.Equal(5, r.Train.Sparse["item"][1]);                          // the only movie u1 never touched
        Assert.Equal(3, r.Train.Sparse["item"][0]);
        Assert.Equal([2], r.Train.Sequences["hist_item"].Row(0).ToArray());
        Assert.Equal(4, r.Test.Sparse["item"][0]);
        Assert.Equal([2, 3, 1], r.Test.Sequences["hist_item"].Row(0).ToArray());
    }

    [Fact]
    public void LabeledLogsBecomeImpressionsWithEarlierClicksAsHistory()
    {
        // Ten impressions; the latest one is test, the one before it validation.
        var lines = new List<string> { "user,item,time,label" };
        string[] rows = ["a,i1,1,1", "a,i2,2,0", "b,i1,2,1", "a,i3,3,1", "a,i4,3,1", "b,i2,4,0", "a,i5,5,0", "b,i3,6,1", "a,i6,7,1", "b,i4,8,0"];
        lines.AddRange(rows);
        var p = Write("imp.csv", [.. lines]);
        var r = BehaviourLog.BuildLabeled(p, new BehaviourLogColumns(Label: "label"), new DinProtocolOptions(MaxHistory: 2, EmbeddingDim: 4));
        Assert.Equal((8, 1, 1), (r.Train.Count, r.Valid.Count, r.Test.Count));
        // Train row 4 is (a, i4, t3): a's clicks strictly before t3 are i1 only (i3 shares the time).
        Assert.Equal(4, r.Train.Sparse["item"][4]);
        Assert.Equal([1], r.Train.Sequences["hist_item"].Row(4).ToArray());
        // Train row 6 is (a, i5, t5): clicks i1, i3, i4 → the most recent two.
        Assert.Equal([3, 4], r.Train.Sequences["hist_item"].Row(6).ToArray());
        Assert.Equal(0f, r.Train.Labels[6]);
        // Validation is (a, i6, t7), test is (b, i4, t8) with b's clicks i1, i3.
        Assert.Equal(6, r.Valid.Sparse["item"][0]);
        Assert.Equal([1, 3], r.Test.Sequences["hist_item"].Row(0).ToArray());
        Assert.Equal(0f, r.Test.Labels[0]);
    }

    [Fact]
    public void AUserWhoSawEveryItemIsAClearErrorNotAHang()
    {
        var p = Write("all.csv", "user,item,time", "a,x,1", "a,y,2", "a,z,3");
        var log = BehaviourLog.Read(p, new());
        var e = Assert.Throws<ArgumentException>(() => DinProtocol.Build(log.Sequences, log.CategoryOf, new DinProtocolOptions(ValidUserFraction: 0)));
        Assert.Equal("user 1 has interacted with every one of the 3 items, so no unseen negative can be drawn", e.Message);
    }

    [Fact]
    public void BadLogRowsNameFileLineAndColumn()
    {
        var p = Write("bad.csv", "user,item,time", "a,x,1", "a,y,soon");
        Assert.Equal($"{p}:3:3: 'time' expected a non-negative integer id, got 'soon'", Assert.Throws<DataFormatException>(() => BehaviourLog.Read(p, new())).Message);
        var q = Write("nolabel.csv", "user,item,time", "a,x,1");
        Assert.StartsWith($"{q}: missing column 'label'", Assert.Throws<DataFormatException>(() => BehaviourLog.BuildLabeled(q, new(Label: "label"), new())).Message);
        var l = Write("l.csv", "user,item,time,label", "a,x,1,1", "a,y,2,0.5");
        Assert.Equal($"{l}:3:4: 'label' expected 0 or 1, got '0.5'", Assert.Throws<DataFormatException>(() => BehaviourLog.BuildLabeled(l, new(Label: "label"), new())).Message);
        var c = Write("c.csv", "user,item,time,cat", "a,x,1,c1", "b,x,2,c2");
        Assert.Contains("item 'x' has category 'c2' here but another one earlier", Assert.Throws<DataFormatException>(() => BehaviourLog.Read(c, new(Category: "cat"))).Message);
        Assert.Equal($"{Write("h.csv", "user,item,time")}: no rows after the header", Assert.Throws<DataFormatException>(() => BehaviourLog.Read(Path.Combine(_dir, "h.csv"), new())).Message);
    }

    [Fact]
    public void CsvChunksCarryTheWholeFileWithItsLineNumbers()
    {
        var lines = new List<string> { "a,b" };
        for (int i = 0; i < 1_000; i++) lines.Add($"{i},{i * 2}");
        lines.Add("x,oops");
        var p = Write("big.csv", [.. lines]);
        int seen = 0, chunks = 0;
        var e = Assert.Throws<DataFormatException>(() =>
        {
            foreach (var t in CsvTable.ReadChunks(p, 300))
            {
                chunks++;
                for (int r = 0; r < t.Count; r++, seen++) Assert.Equal(seen, t.Id(r, 0));
            }
        });
        Assert.Equal(1_000, seen);
        Assert.Equal(4, chunks);
        Assert.Equal($"{p}:1002:1: 'a' expected a non-negative integer id, got 'x'", e.Message);
    }
}
