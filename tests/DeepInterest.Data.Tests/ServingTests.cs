using DeepInterest.Data.Batches;
using DeepInterest.Data.Encoders;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Readers;
using DeepInterest.Data.Serving;

namespace DeepInterest.Data.Tests;

/// <summary>
/// The serving spec: a request of raw values encodes to exactly the row the protocol built for the
/// same sample (DIN protocol with DIEN negatives and DSIN sessions, the labelled log, the seed CSV),
/// round-trips through serving.json, caps histories, maps unknown ids as documented and names the
/// wrong field of a bad request.
/// </summary>
public sealed class ServingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("di-serving").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private sealed record Row(string User, string Item, long Time, string Cat);

    /// <summary>12 users with 6–19 behaviours over 40 items (category g{item % 6}) in bursts: gaps of 1–900 s, and of 4,000+ s between bursts; file in time order.</summary>
    private static List<Row> MakeLog(int seed)
    {
        var rng = new Random(seed);
        var rows = new List<Row>();
        for (int u = 0; u < 12; u++)
        {
            long t = 1_000_000 + rng.Next(5_000);
            int n = 6 + rng.Next(14);
            for (int k = 0; k < n; k++)
            {
                t += rng.Next(4) == 0 ? 4_000 + rng.Next(9_000) : 1 + rng.Next(900);
                int item = rng.Next(40);
                rows.Add(new($"u{u}", $"m{item}", t, $"g{item % 6}"));
            }
        }
        return rows.OrderBy(r => r.Time).ToList();
    }

    private string WriteLog(string name, IEnumerable<Row> rows)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllLines(p, rows.Select(r => $"{r.User},{r.Item},{r.Time},{r.Cat}").Prepend("user,item,time,cat"));
        return p;
    }

    private static readonly DinProtocolOptions Dsin = new(MaxHistory: 5, ValidUserFraction: 0.25, EmbeddingDim: 4, Seed: 3, NegativeHistory: true, MaxSessions: 3, SessionLength: 4);

    /// <summary>Every feature of row <paramref name="ra"/> of <paramref name="a"/> equals row <paramref name="rb"/> of <paramref name="b"/>; negative histories of <paramref name="b"/> are empty.</summary>
    private static void SameRow(CtrDataset a, int ra, CtrDataset b, int rb, string what)
    {
        var negatives = a.Schema.Groups.SelectMany(g => g.Pairs).Select(p => p.NegativeHistory).Where(n => n is not null).ToHashSet();
        foreach (var (name, col) in a.Sparse) Assert.True(col[ra] == b.Sparse[name][rb], $"{what}: '{name}' is {b.Sparse[name][rb]}, the protocol has {col[ra]}");
        foreach (var (name, col) in a.Dense) Assert.True(col[ra] == b.Dense[name][rb], $"{what}: '{name}' is {b.Dense[name][rb]}, the protocol has {col[ra]}");
        foreach (var (name, col) in a.Sequences)
        {
            if (negatives.Contains(name)) { Assert.Equal(0, b.Sequences[name].Lengths[rb]); continue; }
            Assert.True(col.Row(ra).SequenceEqual(b.Sequences[name].Row(rb)), $"{what}: '{name}' is [{string.Join(",", b.Sequences[name].Row(rb).ToArray())}], the protocol has [{string.Join(",", col.Row(ra).ToArray())}]");
        }
        foreach (var (name, col) in a.Sessions)
        {
            var o = b.Sessions[name];
            Assert.True(col.Counts[ra] == o.Counts[rb], $"{what}: '{name}' has {o.Counts[rb]} sessions, the protocol {col.Counts[ra]}");
            for (int s = 0; s < col.MaxSessions; s++)
                Assert.True(col.Session(ra, s).SequenceEqual(o.Session(rb, s)), $"{what}: '{name}' session {s} differs");
        }
    }

    [Fact]
    public void ARequestOfRawValuesEncodesExactlyAsTheProtocolDid()
    {
        var rows = MakeLog(11);
        var path = WriteLog("log.csv", rows);
        var log = BehaviourLog.Read(path, new(Category: "cat"));
        var r = DinProtocol.Build(log.Sequences, log.CategoryOf, Dsin, log.Times, log.Raw);
        var spec = r.Spec!;
        Assert.Empty(spec.ProfileFields);
        Assert.Equal(5, spec.MaxHistory);
        int capped = 0, multiSession = 0;
        // Validation targets b_{n−1}, test targets b_n: the history is every earlier behaviour.
        foreach (var (set, drop) in new[] { (r.Valid, 2), (r.Test, 1) })
            for (int row = 0; row < set.Count; row += 2)
            {
                var user = spec.RawValue("user", set.Sparse["user"][row]);
                var mine = rows.Where(x => x.User == user).ToList();                    // time order: the file is sorted
                var target = mine[^drop];
                Assert.Equal(target.Item, spec.RawItem(set.Sparse["item"][row]));
                var request = new RankRequest
                {
                    User = user,
                    History = mine[..^drop].Select(b => new Behaviour(b.Item, b.Time)).ToList(),
                    Candidates = [target.Item, spec.RawItem(set.Sparse["item"][row + 1])],
                };
                var e = spec.Encode(request, set.Schema);
                Assert.Equal(2, e.Rows.Count);
                SameRow(set, row, e.Rows, 0, $"user {user} positive");
                SameRow(set, row + 1, e.Rows, 1, $"user {user} negative");
                Assert.Equal(mine.Count - drop, e.HistoryGiven);
                Assert.Equal(Math.Min(5, mine.Count - drop), e.HistoryUsed);
                Assert.Equal((0, 0), (e.UnknownCandidates, e.UnknownBehaviours));
                if (e.HistoryGiven > e.HistoryUsed) capped++;
                if (e.Rows.Sessions["sess_item"].Counts[0] > 1) multiSession++;
            }
        Assert.True(capped > 0 && multiSession > 0, "the log should exercise the history cap and several sessions");
    }

    [Fact]
    public void TheRawLogReaderScoresEachRowWithTheUsersEarlierRows()
    {
        var rows = MakeLog(12);
        var path = WriteLog("log.csv", rows);
        var log = BehaviourLog.Read(path, new(Category: "cat"));
        var r = DinProtocol.Build(log.Sequences, log.CategoryOf, Dsin with { ValidUserFraction = 0 }, log.Times, log.Raw);
        // The same file read for scoring: each user's last row is the protocol's test positive.
        var read = r.Spec!.ReadFile(path, r.Test.Schema);
        Assert.False(read.HasLabels);
        Assert.Equal(rows.Select(x => x.User), read.Users);
        Assert.Equal(rows.Select(x => x.Item), read.Items);
        for (int row = 0; row < r.Test.Count; row += 2)
        {
            var user = r.Spec.RawValue("user", r.Test.Sparse["user"][row]);
            int last = rows.FindLastIndex(x => x.User == user);
            SameRow(r.Test, row, read.Data, last, $"user {user}");
        }
    }

    [Fact]
    public void TheLabelledLogReaderSeesTheLabelledProtocolsHistories()
    {
        var rng = new Random(5);
        var rows = MakeLog(13).Select(x => (Row: x, Label: rng.Next(3) == 0 ? 0 : 1)).ToList();
        var path = Path.Combine(_dir, "imp.csv");
        File.WriteAllLines(path, rows.Select(x => $"{x.Row.User},{x.Row.Item},{x.Row.Time},{x.Row.Cat},{x.Label}").Prepend("user,item,time,cat,label"));
        var r = BehaviourLog.BuildLabeled(path, new(Category: "cat", Label: "label"), new DinProtocolOptions(MaxHistory: 4, EmbeddingDim: 4));
        var spec = r.Spec!;
        Assert.Null(spec.Sessions);
        var read = spec.ReadFile(path, r.Test.Schema);
        Assert.True(read.HasLabels);
        // The protocol's splits are the file in time order (stable), cut 80/10/10.
        var byTime = Enumerable.Range(0, rows.Count).OrderBy(i => rows[i].Row.Time).ToArray();
        int i = 0;
        foreach (var set in new[] { r.Train, r.Valid, r.Test })
            for (int row = 0; row < set.Count; row++, i++)
            {
                SameRow(set, row, read.Data, byTime[i], $"impression {byTime[i]}");
                Assert.Equal(set.Labels[row], read.Data.Labels[byTime[i]]);
            }
    }

    [Fact]
    public void TheSpecRoundTripsThroughItsFile()
    {
        var path = WriteLog("log.csv", MakeLog(14));
        var log = BehaviourLog.Read(path, new(Category: "cat"));
        var r = DinProtocol.Build(log.Sequences, log.CategoryOf, Dsin, log.Times, log.Raw);
        var file = Path.Combine(_dir, "model", ServingSpec.FileName);
        r.Spec!.Save(file);
        Assert.Equal([ServingSpec.FileName], Directory.GetFiles(Path.GetDirectoryName(file)!).Select(Path.GetFileName));   // no temporary left
        var back = ServingSpec.Load(file);
        Assert.Equal(r.Spec.ToJson(), back.ToJson());
        var request = new RankRequest
        {
            User = "u3",
            History = [new("m1", 100), new("m2", 200), new("m7", 5_000), new("m9", 5_100), new("zzz", 5_200)],
            Candidates = ["m4", "m5", "nope"],
        };
        var a = r.Spec.Encode(request, r.Test.Schema);
        var b = back.Encode(request, r.Test.Schema);
        for (int row = 0; row < 3; row++) SameRow(a.Rows, row, b.Rows, row, $"candidate {row}");
        Assert.Equal(a with { Rows = null! }, b with { Rows = null! });
        Assert.Equal(r.Spec.ProfileFields, back.ProfileFields);
    }

    [Fact]
    public void AHistoryLongerThanTheCapKeepsTheMostRecentBehaviours()
    {
        var rows = MakeLog(15);
        var path = WriteLog("log.csv", rows);
        var log = BehaviourLog.Read(path, new(Category: "cat"));
        var r = DinProtocol.Build(log.Sequences, log.CategoryOf, new DinProtocolOptions(MaxHistory: 5, EmbeddingDim: 4), log.Times, log.Raw);
        var items = Enumerable.Range(0, 12).Select(k => $"m{k}").ToList();
        var e = r.Spec!.Encode(new RankRequest { User = "u0", History = items.Select(i => new Behaviour(i)).ToList(), Candidates = ["m3"] }, r.Test.Schema);
        Assert.Equal((12, 5), (e.HistoryGiven, e.HistoryUsed));
        Assert.Equal(items[^5..], e.Rows.Sequences["hist_item"].Row(0).ToArray().Select(r.Spec.RawItem));
        Assert.Equal(items[^5..].Select(i => $"g{int.Parse(i[1..]) % 6}"), e.Rows.Sequences["hist_cate"].Row(0).ToArray().Select(c => r.Spec.RawValue("cate", c)));
    }

    [Fact]
    public void UnknownIdsMapToZeroForDinLogsAndToTheUnknownIdForFittedEncoders()
    {
        var path = WriteLog("log.csv", MakeLog(16));
        var log = BehaviourLog.Read(path, new(Category: "cat"));
        var r = DinProtocol.Build(log.Sequences, log.CategoryOf, new DinProtocolOptions(EmbeddingDim: 4), log.Times, log.Raw);
        var e = r.Spec!.Encode(new RankRequest { User = "stranger", History = [new("m1"), new("never-seen"), new("m2")], Candidates = ["m1", "brand-new"] }, r.Test.Schema);
        Assert.Equal((1, 1), (e.UnknownCandidates, e.UnknownBehaviours));
        Assert.Equal([0, 0], e.Rows.Sparse["user"]);
        Assert.Equal(0, e.Rows.Sparse["item"][1]);
        Assert.Equal(0, e.Rows.Sparse["cate"][1]);
        Assert.Equal(0, e.Rows.Sequences["hist_item"].Row(0)[1]);
        Assert.Equal(0, e.Rows.Sequences["hist_cate"].Row(0)[1]);
        Assert.Equal("(unknown)", r.Spec.RawItem(0));
        // The seed protocol's encoders keep id 1 for unseen values.
        var (train, test) = SeedFiles();
        var s = MovieLensSeed.Load(train, test, 4, 0.2, 1).Spec!;
        var u = s.Encode(new RankRequest
        {
            User = "not-a-number",
            Profile = new Dictionary<string, string> { ["gender"] = "X", ["age"] = "30", ["occupation"] = "99", ["zipCode"] = "nowhere" },
            History = [new("12345")],
            Candidates = ["54321"],
        }, SeedSchema(train, test));
        foreach (var f in new[] { "gender", "occupation", "zipCode", "movieId" }) Assert.Equal(CategoryEncoder.Unknown, u.Rows.Sparse[f][0]);
        Assert.Equal([CategoryEncoder.Unknown], u.Rows.Sequences["histHighRatedMovieIds"].Row(0).ToArray());
        Assert.Equal(0, u.Rows.Sequences["genres"].Lengths[0]);
        Assert.Equal(0, u.Rows.UserIds[0]);
    }

    [Fact]
    public void AWrongRequestNamesTheField()
    {
        var path = WriteLog("log.csv", MakeLog(17));
        var log = BehaviourLog.Read(path, new(Category: "cat"));
        var r = DinProtocol.Build(log.Sequences, log.CategoryOf, Dsin, log.Times, log.Raw);
        var spec = r.Spec!;
        RequestException Bad(RankRequest q) => Assert.Throws<RequestException>(() => spec.Encode(q, r.Test.Schema));
        Assert.Equal("candidates", Bad(new RankRequest { User = "u1", History = [new("m1", 1)] }).Field);
        Assert.Equal("candidates[1]", Bad(new RankRequest { Candidates = ["m1", ""] }).Field);
        var missing = Bad(new RankRequest { History = [new("m1", 10), new("m2"), new("m3", 30)], Candidates = ["m4"] });
        Assert.Equal("history[1].time", missing.Field);
        Assert.Equal("is missing; this model cuts the history into sessions (DSIN) and needs every behaviour's Unix time in seconds", missing.Message);
        var order = Bad(new RankRequest { History = [new("m1", 10), new("m2", 20), new("m3", 15)], Candidates = ["m4"] });
        Assert.Equal(("history[2].time", "15 is earlier than history[1].time 20; the history must be oldest first"), (order.Field, order.Message));
        Assert.Equal("history[0].item", Bad(new RankRequest { History = [new("", 1)], Candidates = ["m4"] }).Field);
        // A model without sessions needs no times.
        var din = DinProtocol.Build(log.Sequences, log.CategoryOf, new DinProtocolOptions(EmbeddingDim: 4), log.Times, log.Raw);
        Assert.Equal(1, din.Spec!.Encode(new RankRequest { History = [new("m1"), new("m2")], Candidates = ["m4"] }, din.Test.Schema).Rows.Count);
        // movielens_seed reads the user's profile.
        var (train, test) = SeedFiles();
        var seed = MovieLensSeed.Load(train, test, 4, 0.2, 1).Spec!;
        Assert.Equal(["gender", "occupation", "zipCode", "age"], seed.ProfileFields);
        var schema = SeedSchema(train, test);
        var profile = new Dictionary<string, string> { ["gender"] = "F", ["occupation"] = "1", ["zipCode"] = "00001" };
        var noAge = Assert.Throws<RequestException>(() => seed.Encode(new RankRequest { Profile = profile, Candidates = ["3"] }, schema));
        Assert.Equal(("profile.age", "is missing; this model reads the user's gender, occupation, zipCode, age"), (noAge.Field, noAge.Message));
        profile["age"] = "old";
        var badAge = Assert.Throws<RequestException>(() => seed.Encode(new RankRequest { Profile = profile, Candidates = ["3"] }, schema));
        Assert.Equal(("profile.age", "expected a finite number, got 'old'"), (badAge.Field, badAge.Message));
        Assert.Equal("profile.gender", Assert.Throws<RequestException>(() => seed.Encode(new RankRequest { Candidates = ["3"] }, schema)).Field);
    }

    [Fact]
    public void BadSpecFilesAreOneLineErrorsNamingTheFile()
    {
        var p = Path.Combine(_dir, ServingSpec.FileName);
        File.WriteAllText(p, "{\"format_version\": 1, \"protocol\": ");
        var e = Assert.Throws<DataFormatException>(() => ServingSpec.Load(p));
        Assert.StartsWith($"{p}: not a valid serving spec: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        File.WriteAllText(p, "{\"format_version\": 9, \"protocol\": \"x\"}");
        Assert.Equal($"{p}: format_version 9 is not supported (this build reads 1)", Assert.Throws<DataFormatException>(() => ServingSpec.Load(p)).Message);
        File.WriteAllText(p, "{\"protocol\": \"x\"}");
        Assert.Equal($"{p}: format_version is missing", Assert.Throws<DataFormatException>(() => ServingSpec.Load(p)).Message);
        File.WriteAllText(p, "{\"format_version\": 1, \"protocol\": \"x\", \"max_history\": 3, \"vocabularies\": {\"item\": {\"unknown\": 0, \"values\": [null, \"a\"]}}, \"features\": [{\"feature\": \"user\", \"source\": \"user\", \"vocabulary\": \"people\"}]}");
        Assert.Equal($"{p}: feature rule 'user': a user rule needs a defined vocabulary, got 'people'", Assert.Throws<DataFormatException>(() => ServingSpec.Load(p)).Message);
        Assert.Equal($"{Path.Combine(_dir, "none.json")}: file not found", Assert.Throws<DataFormatException>(() => ServingSpec.Load(Path.Combine(_dir, "none.json"))).Message);
    }

    // ------------------------------------------------------------------ movielens_seed

    private static readonly string[] Genres = ["Drama", "Comedy|Romance", "Action|Adventure|Sci-Fi", "Animation|Children's|Comedy|Musical|Romance|War|Western", "Horror"];

    /// <summary>A small train.csv/test.csv in the tutorial's columns: 60 + 12 users, movies 1–15 (genres by movie, one with 7 genres), histories of 0–10 movies.</summary>
    private (string Train, string Test) SeedFiles()
    {
        var rng = new Random(9);
        string Rows(int from, int n, int movies) => string.Join("\n", Enumerable.Range(from, n).Select(u =>
        {
            int m = 1 + rng.Next(movies);
            string List(int k) => string.Join("|", Enumerable.Range(0, k).Select(_ => 1 + rng.Next(15)));
            return $"{u},{m},4,97800{u},1.0,{List(rng.Next(11))},{List(rng.Next(11))},{(u % 2 == 0 ? "F" : "M")},{new[] { 1, 18, 25, 35, 45 }[rng.Next(5)]},{rng.Next(6)},0000{rng.Next(4)},\"Movie {m}, The (1999)\",{Genres[m % Genres.Length]},{rng.Next(2)}";
        }));
        const string header = "userId,movieId,ratting,timestamp,last,histHighRatedMovieIds,negHistMovieIds,gender,age,occupation,zipCode,title,genres,label\n";
        var train = Path.Combine(_dir, "train.csv");
        var test = Path.Combine(_dir, "test.csv");
        File.WriteAllText(train, header + Rows(1, 60, 12) + "\n");
        File.WriteAllText(test, header + Rows(100, 12, 15) + "\n");
        return (train, test);
    }

    private static Schema.FeatureSchema SeedSchema(string train, string test) => MovieLensSeed.Load(train, test, 4, 0.2, 1).Test.Schema;

    [Fact]
    public void SeedRequestsEncodeLikeTheTutorialCsv()
    {
        var (train, test) = SeedFiles();
        var s = MovieLensSeed.Load(train, test, 4, 0.2, 1);
        var spec = s.Spec!;
        Assert.Equal("Movie 3, The (1999)", spec.ItemName("3"));
        Assert.Null(spec.ItemName("15"));                                             // never a training target
        var t = CsvTable.Read(test);
        var tr = CsvTable.Read(train);
        var targets = Enumerable.Range(0, tr.Count).Select(r => tr.Text(r, tr.Column("movieId"))).ToHashSet();
        int checkedRows = 0;
        for (int r = 0; r < t.Count; r++)
        {
            var movie = t.Text(r, t.Column("movieId"));
            if (!targets.Contains(movie)) continue;                                   // genres come from training targets only
            var request = new RankRequest
            {
                User = t.Text(r, t.Column("userId")),
                Profile = MovieLensSeed.ProfileColumns.ToDictionary(c => c, c => t.Text(r, t.Column(c))),
                History = t.Text(r, t.Column("histHighRatedMovieIds")).Split('|', StringSplitOptions.RemoveEmptyEntries).Select(i => new Behaviour(i)).ToList(),
                Candidates = [movie],
            };
            var e = spec.Encode(request, s.Test.Schema);
            SameRow(s.Test, r, e.Rows, 0, $"test row {r}");
            Assert.Equal(s.Test.UserIds[r], e.Rows.UserIds[0]);
            checkedRows++;
        }
        Assert.True(checkedRows >= 6, $"only {checkedRows} test rows have a training movie");
        // The tutorial CSV read through the spec is the protocol's own encoding, and needs no label.
        var read = spec.ReadFile(test, s.Test.Schema);
        for (int r = 0; r < t.Count; r++) SameRowIncludingNegatives(s.Test, read.Data, r);
        var unlabelled = Path.Combine(_dir, "nolabel.csv");
        File.WriteAllLines(unlabelled, File.ReadAllLines(test).Select(l => l[..l.LastIndexOf(',')]));
        var p = spec.ReadFile(unlabelled, s.Test.Schema);
        Assert.False(p.HasLabels);
        Assert.Equal(t.Count, p.Data.Count);
        Assert.Equal(Enumerable.Range(0, t.Count).Select(r => t.Text(r, 1)), p.Items);
    }

    private static void SameRowIncludingNegatives(CtrDataset a, CtrDataset b, int r)
    {
        foreach (var (name, col) in a.Sparse) Assert.Equal(col[r], b.Sparse[name][r]);
        foreach (var (name, col) in a.Dense) Assert.Equal(col[r], b.Dense[name][r]);
        foreach (var (name, col) in a.Sequences) Assert.Equal(col.Row(r).ToArray(), b.Sequences[name].Row(r).ToArray());
        Assert.Equal(a.Labels[r], b.Labels[r]);
        Assert.Equal(a.UserIds[r], b.UserIds[r]);
    }

    [SkippableFact]
    public void MovieLensSpecKeepsRawIdsTitlesAndStaysSmall()
    {
        var dir = TestPaths.SharedData;
        var ordered = Path.Combine(dir, "movielens-1m-ordered", "ml1m_ordered_interactions.csv.gz");
        var movies = Path.Combine(dir, "movielens-1m", "movies.dat");
        Skip.IfNot(File.Exists(ordered) && File.Exists(movies), $"{ordered} or {movies} is absent: ML-1M lives in ../shared/data beside the repository");
        var log = MovieLens1M.ReadLog(ordered, movies);
        var spec = ServingSpec.ForDinProtocol(log.Raw, log.CategoryOf, new DinProtocolOptions());
        var file = Path.Combine(_dir, ServingSpec.FileName);
        spec.Save(file);
        Assert.InRange(new FileInfo(file).Length, 1, 1_000_000);
        Assert.Equal("1193", spec.RawItem(1193));
        Assert.Equal("One Flew Over the Cuckoo's Nest (1975)", spec.ItemName("1193"));
        Assert.Equal("Drama", spec.RawValue("cate", log.CategoryOf[1193]));
        var schema = DinProtocol.Schema(log.Sequences.Count, log.CategoryOf.Length, log.CategoryOf.Max() + 1, new DinProtocolOptions());
        var e = ServingSpec.Load(file).Encode(new RankRequest { User = "1", History = [new("1193"), new("661")], Candidates = ["914", "99999"] }, schema);
        Assert.Equal([1193, 661], e.Rows.Sequences["hist_item"].Row(0).ToArray());
        Assert.Equal([914, 0], e.Rows.Sparse["item"]);
        Assert.Equal(1, e.UnknownCandidates);
    }
}
