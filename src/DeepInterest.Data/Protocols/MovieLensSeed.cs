using DeepInterest.Data.Batches;
using DeepInterest.Data.Encoders;
using DeepInterest.Data.Readers;
using DeepInterest.Data.Schema;
using DeepInterest.Data.Serving;

namespace DeepInterest.Data.Protocols;

/// <summary>
/// The seed tutorial's MovieLens-1M protocol: its <c>train.csv</c>/<c>test.csv</c> read as they are
/// (one row per user: the last rating, label = rating ≥ 4, up to 10 earlier high-rated movies as the
/// history and as many random movies as the negative history). Features: gender, movieId,
/// occupation, zipCode (sparse), age (dense, quantile-transformed like the tutorial), genres
/// (sequence, max-pooled by BaseModel's sum / DIN's pooling), histHighRatedMovieIds and
/// negHistMovieIds (sequences sharing the movie table with movieId; one attention pair).
/// Encoders are fitted on the training rows only; a validation split is carved out of train.
/// </summary>
public static class MovieLensSeed
{
    public const int MaxHistory = 50, MaxGenres = 6;
    private static readonly string[] Sparse = ["gender", "movieId", "occupation", "zipCode"];

    /// <summary>The columns with a category encoder in <see cref="Encoders.Categories"/>, and the genres column (<see cref="Encoders.Genres"/>).</summary>
    internal static IReadOnlyList<string> CategoricalColumns => Sparse;
    internal const string GenresColumn = "genres";

    /// <summary>The user-side columns a request carries as its profile (userId itself is no feature).</summary>
    public static readonly IReadOnlyList<string> ProfileColumns = ["gender", "age", "occupation", "zipCode"];

    public sealed record Encoders(Dictionary<string, CategoryEncoder> Categories, CategoryEncoder Genres, float[] AgeQuantiles)
    {
        private static readonly System.Text.Json.JsonSerializerOptions Json = new() { WriteIndented = false };

        public string ToJson() => System.Text.Json.JsonSerializer.Serialize(this, Json);

        public static Encoders FromJson(string json, string source)
        {
            try
            {
                return System.Text.Json.JsonSerializer.Deserialize<Encoders>(json, Json)
                    ?? throw new DataFormatException($"{source}: empty encoders");
            }
            catch (System.Text.Json.JsonException e) { throw new DataFormatException($"{source}: invalid encoders: {e.Message.Split('\n')[0]}"); }
        }
    }

    /// <summary>Encodes a CSV in the tutorial's format with encoders fitted earlier (unseen values map to unknown).</summary>
    public static CtrDataset Encode(string csv, Encoders e, FeatureSchema schema) => Build(CsvTable.Read(csv), e, schema);

    /// <summary>
    /// Like <see cref="Encode"/> for a file of any size: yields datasets of at most <paramref name="chunkRows"/>
    /// rows in file order, reading the file as it goes (memory ∝ chunkRows, not the file).
    /// </summary>
    public static IEnumerable<CtrDataset> EncodeChunks(string csv, Encoders e, FeatureSchema schema, int chunkRows)
    {
        foreach (var t in CsvTable.ReadChunks(csv, chunkRows)) yield return Build(t, e, schema);
    }

    /// <summary>The three splits, the encoders fitted on train and what a model trained on them needs to score raw requests.</summary>
    public sealed record Splits(CtrDataset Train, CtrDataset Valid, CtrDataset Test, Encoders Fitted)
    {
        public ServingSpec? Spec { get; init; }
    }

    /// <summary>
    /// Reads both files, fits encoders on train, and splits <paramref name="validFraction"/> of train (seeded) off for validation.
    /// Values seen fewer than <paramref name="minCount"/> times in the training file (the tutorial's encoders use 5)
    /// map to the unknown id: with one row per user most zip codes and target movies occur once, and their
    /// embeddings would only memorize the training labels.
    /// </summary>
    public static Splits Load(string trainCsv, string testCsv, int embeddingDim, double validFraction, ulong seed, int minCount = 1)
    {
        if (validFraction is <= 0 or >= 1) throw new ArgumentException($"data.valid_fraction must be in (0, 1), got {validFraction}.");
        if (minCount < 1) throw new ArgumentException($"data.min_count must be at least 1, got {minCount}.");
        var train = CsvTable.Read(trainCsv);
        var test = CsvTable.Read(testCsv);
        var enc = Fit(train, minCount);
        var schema = Schema(enc, embeddingDim);
        var all = Build(train, enc, schema);
        var order = Enumerable.Range(0, all.Count).ToArray();
        var rng = new Random((int)(seed % int.MaxValue));   // System.Random(int) is a fixed algorithm across .NET versions
        rng.Shuffle(order);
        int nValid = (int)Math.Round(all.Count * validFraction);
        var valid = all.Take(order[..nValid].OrderBy(i => i).ToList());
        var tr = all.Take(order[nValid..].OrderBy(i => i).ToList());
        return new Splits(tr, valid, Build(test, enc, schema), enc) { Spec = Spec(enc, train) };
    }

    /// <summary>
    /// What serving needs, from the fitted encoders and the training file: every encoder as a
    /// vocabulary (unknown = <see cref="CategoryEncoder.Unknown"/>), the training ages for the
    /// quantile transform, and from the training rows each target movie's genres (the movie's first
    /// row; movies seen only in histories, or mapped to unknown, have none) and titles (when the file
    /// has a <c>title</c> column). A request carries gender, age, occupation and zipCode as its
    /// profile; candidates and history are raw movieIds; the negative history is left empty.
    /// </summary>
    public static ServingSpec Spec(Encoders e, CsvTable train)
    {
        static ServingVocabulary Vocab(CategoryEncoder c)
        {
            var values = new string?[c.Size];
            foreach (var (raw, id) in c.Vocabulary) values[id] = raw;
            return new ServingVocabulary(CategoryEncoder.Unknown, values);
        }
        var movies = e.Categories["movieId"];
        var genres = new int[movies.Size][];
        Array.Fill(genres, []);
        var titles = new Dictionary<string, string>();
        int m = train.Column("movieId"), g = train.Column(GenresColumn), title = train.Header.Contains("title") ? train.Column("title") : -1;
        for (int r = 0; r < train.Count; r++)
        {
            var raw = train.Id(r, m).ToString();
            int id = movies.Encode(raw);
            if (id != CategoryEncoder.Unknown && genres[id].Length == 0)
                genres[id] = train.List(r, g, '|', MaxGenres, true).Select(e.Genres.Encode).ToArray();
            if (title >= 0 && train.Text(r, title) is { Length: > 0 } name) titles.TryAdd(raw, name);
        }
        var vocabularies = Sparse.ToDictionary(c => c, c => Vocab(e.Categories[c]));
        vocabularies[GenresColumn] = Vocab(e.Genres);
        return new ServingSpec
        {
            Protocol = "movielens_seed",
            RawFile = RawFileFormat.MovielensSeed,
            MaxHistory = MaxHistory,
            ItemVocabulary = "movieId",
            Features =
            [
                new("gender", FeatureSource.Profile, Vocabulary: "gender", Field: "gender"),
                new("movieId", FeatureSource.Candidate),
                new("occupation", FeatureSource.Profile, Vocabulary: "occupation", Field: "occupation"),
                new("zipCode", FeatureSource.Profile, Vocabulary: "zipCode", Field: "zipCode"),
                new("age", FeatureSource.Profile, Field: "age", Numeric: "age"),
                new(GenresColumn, FeatureSource.Candidate, Attribute: GenresColumn),
                new("histHighRatedMovieIds", FeatureSource.History),
                new("negHistMovieIds", FeatureSource.Empty),
            ],
            Numeric = new Dictionary<string, float[]> { ["age"] = e.AgeQuantiles },
            Vocabularies = vocabularies,
            ItemAttributes = new Dictionary<string, ItemAttribute> { [GenresColumn] = new(GenresColumn, genres) },
            ItemNames = titles,
        }.Validate();
    }

    private static Encoders Fit(CsvTable t, int minCount)
    {
        var cats = new Dictionary<string, CategoryEncoder>();
        foreach (var name in Sparse.Where(n => n != "movieId"))
        {
            int c = t.Column(name);
            cats[name] = new CategoryEncoder(minCount).Fit(Enumerable.Range(0, t.Count).Select(r => t.Text(r, c)));
        }
        // One movie vocabulary for the target and both histories (they share an embedding table).
        int m = t.Column("movieId"), h = t.Column("histHighRatedMovieIds"), n = t.Column("negHistMovieIds");
        var movies = Enumerable.Range(0, t.Count).SelectMany(r =>
            new[] { t.Id(r, m).ToString() }.Concat(t.List(r, h, '|', MaxHistory, true)).Concat(t.List(r, n, '|', MaxHistory, true)));
        cats["movieId"] = new CategoryEncoder(minCount).Fit(movies);
        int g = t.Column("genres");
        var genres = new CategoryEncoder(minCount).Fit(Enumerable.Range(0, t.Count).SelectMany(r => t.List(r, g, '|', MaxGenres, true)));
        int a = t.Column("age");
        var ages = Enumerable.Range(0, t.Count).Select(r => t.Float(r, a)).OrderBy(v => v).ToArray();
        return new Encoders(cats, genres, ages);
    }

    public static FeatureSchema Schema(Encoders e, int dim) => new FeatureSchema
    {
        Tables = [new("gender", e.Categories["gender"].Size, dim), new("movie", e.Categories["movieId"].Size, dim),
                  new("occupation", e.Categories["occupation"].Size, dim), new("zipCode", e.Categories["zipCode"].Size, dim),
                  new("genre", e.Genres.Size, dim)],
        Sparse = [new("gender", "gender"), new("movieId", "movie"), new("occupation", "occupation"), new("zipCode", "zipCode")],
        Dense = [new("age")],
        Sequences = [new("genres", "genre", MaxGenres), new("histHighRatedMovieIds", "movie", MaxHistory), new("negHistMovieIds", "movie", MaxHistory)],
        Groups = [new("movie", [new AttentionPair("movieId", "histHighRatedMovieIds", "negHistMovieIds")])],
    }.Validate();

    /// <summary>The empirical CDF of the training ages (the tutorial's QuantileTransformer, uniform output).</summary>
    internal static float Quantile(float[] sorted, float v)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi) { int mid = (lo + hi) / 2; if (sorted[mid] < v) lo = mid + 1; else hi = mid; }
        int lo2 = lo, hi2 = sorted.Length;
        while (lo2 < hi2) { int mid = (lo2 + hi2) / 2; if (sorted[mid] <= v) lo2 = mid + 1; else hi2 = mid; }
        return sorted.Length <= 1 ? 0f : (float)((lo + lo2 - 1) / 2.0 / (sorted.Length - 1));
    }


    /// <summary>Encodes the rows of a tutorial CSV; with <paramref name="requireLabels"/> false a file without a label column gets labels 0 (for prediction).</summary>
    public static CtrDataset Build(CsvTable t, Encoders e, FeatureSchema schema, bool requireLabels = true)
    {
        var d = new CtrDataset(schema, t.Count);
        int user = t.Column("userId"), label = requireLabels || t.Header.Contains("label") ? t.Column("label") : -1, age = t.Column("age"), genres = t.Column("genres");
        int hist = t.Column("histHighRatedMovieIds"), neg = t.Column("negHistMovieIds");
        var cols = Sparse.ToDictionary(n => n, t.Column);
        for (int r = 0; r < t.Count; r++)
        {
            foreach (var (name, c) in cols)
                d.Sparse[name][r] = e.Categories[name].Encode(name == "movieId" ? t.Id(r, c).ToString() : t.Text(r, c));
            d.Dense["age"][r] = Quantile(e.AgeQuantiles, t.Float(r, age));
            Fill(d.Sequences["genres"], r, t.List(r, genres, '|', MaxGenres, true), e.Genres);
            Fill(d.Sequences["histHighRatedMovieIds"], r, t.List(r, hist, '|', MaxHistory, true), e.Categories["movieId"]);
            Fill(d.Sequences["negHistMovieIds"], r, t.List(r, neg, '|', MaxHistory, true), e.Categories["movieId"]);
            if (label < 0) { d.UserIds[r] = (int)t.Id(r, user); continue; }
            float y = t.Float(r, label);
            if (y is not (0f or 1f)) throw new DataFormatException($"{t.Where(r, label)}: 'label' expected 0 or 1, got '{t.Text(r, label)}'");
            d.Labels[r] = y;
            d.UserIds[r] = (int)t.Id(r, user);
        }
        return d;
    }

    private static void Fill(SequenceColumn col, int row, string[] items, CategoryEncoder enc)
    {
        col.Lengths[row] = items.Length;
        for (int i = 0; i < items.Length; i++) col.Ids[row * col.MaxLength + i] = enc.Encode(items[i]);
    }
}
