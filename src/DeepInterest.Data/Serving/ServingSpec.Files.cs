using DeepInterest.Data.Batches;
using DeepInterest.Data.Encoders;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Readers;
using DeepInterest.Data.Schema;

namespace DeepInterest.Data.Serving;

public sealed partial class ServingSpec
{
    /// <summary>Column names of the behaviour-log layout <see cref="ReadFile"/> reads (the <c>behaviour_log</c> protocol's defaults).</summary>
    public const string UserColumn = "user", ItemColumn = "item", TimeColumn = "time", LabelColumn = "label";

    private MovieLensSeed.Encoders? _seedEncoders;

    /// <summary>
    /// Reads a raw file in this model's layout (<see cref="RawFile"/>) into rows for a model with
    /// <paramref name="schema"/>, keeping each row's raw user and item id:
    /// <list type="bullet">
    /// <item><see cref="RawFileFormat.BehaviourLog"/>: a CSV with header columns <c>user</c>, <c>item</c>,
    /// integer <c>time</c> and optional 0/1 <c>label</c> (the model's training column names are not
    /// kept, so these fixed names are read), plus a column per profile field if the model has any.
    /// Each row is scored as a candidate of its user with the user's earlier rows in the same file as
    /// history (a user's rows ordered by time, ties in file order). Without a label column every row
    /// is a behaviour and the history is every earlier row — the DIN protocol's rule; with one, rows
    /// are impressions and the history is the earlier clicks (label 1, strictly earlier time) — the
    /// labelled log's rule, which keeps a row's own and simultaneous candidates out of its history.
    /// Sessions (DSIN) are cut from the same behaviours. Rows keep file order; the rows' user ids
    /// (GAUC's grouping) number the file's raw users, so unknown users are not merged.</item>
    /// <item><see cref="RawFileFormat.MovielensSeed"/>: the tutorial's CSV, encoded exactly as in
    /// training (<see cref="MovieLensSeed.Build"/>); the label column is optional.</item>
    /// </list>
    /// Bad cells are <see cref="DataFormatException"/>s naming file:line:column.
    /// </summary>
    public RawRows ReadFile(string path, FeatureSchema schema) => RawFile switch
    {
        RawFileFormat.BehaviourLog => ReadLog(path, schema),
        RawFileFormat.MovielensSeed => ReadSeedCsv(path, schema),
        _ => throw new InvalidOperationException($"{FileName}: raw file format {RawFile} is not known to this build"),
    };

    /// <summary>The raw user and item id of row <paramref name="row"/> of encoded data (a prepared split), through the features that read them.</summary>
    public (string User, string Item) RawIdsOf(CtrDataset data, int row)
    {
        var u = Features.FirstOrDefault(f => f.Source == FeatureSource.User && data.Sparse.ContainsKey(f.Feature));
        var i = Features.FirstOrDefault(f => f.Source == FeatureSource.Candidate && f.Attribute is null && data.Sparse.ContainsKey(f.Feature));
        return (u is null ? data.UserIds[row].ToString() : RawValue(u.Feature, data.Sparse[u.Feature][row]),
                i is null ? "" : RawItem(data.Sparse[i.Feature][row]));
    }

    private RawRows ReadLog(string path, FeatureSchema schema)
    {
        var plan = PlanFor(schema);
        var t = CsvTable.Read(path);
        int cu = t.Column(UserColumn), ci = t.Column(ItemColumn), ct = t.Column(TimeColumn);
        int cl = t.Header.Contains(LabelColumn) ? t.Column(LabelColumn) : -1;
        var profileColumns = ProfileFields.ToDictionary(f => f, t.Column);
        if (t.Count == 0) throw new DataFormatException($"{path}: no rows after the header");
        int n = t.Count;
        var users = new string[n]; var rawItems = new string[n];
        var item = new int[n]; var time = new long[n]; var label = new float[n];
        var byUser = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int r = 0; r < n; r++)
        {
            users[r] = t.Text(r, cu); rawItems[r] = t.Text(r, ci);
            if (users[r].Length == 0) throw new DataFormatException($"{t.Where(r, cu)}: '{UserColumn}' is empty");
            if (rawItems[r].Length == 0) throw new DataFormatException($"{t.Where(r, ci)}: '{ItemColumn}' is empty");
            item[r] = Items.Encode(rawItems[r]);
            time[r] = t.Integer(r, ct);
            if (cl >= 0)
            {
                label[r] = t.Float(r, cl);
                if (label[r] is not (0f or 1f)) throw new DataFormatException($"{t.Where(r, cl)}: '{LabelColumn}' expected 0 or 1, got '{t.Text(r, cl)}'");
            }
            if (!byUser.TryGetValue(users[r], out var rows)) byUser[users[r]] = rows = new List<int>();
            rows.Add(r);
        }
        var d = new CtrDataset(schema, n);
        int fileUser = 0;
        foreach (var (rawUser, fileRows) in byUser)
        {
            fileUser++;
            var order = fileRows.OrderBy(r => time[r]).ToArray();                         // stable: ties keep file order
            // The user's behaviours: every row, or (impressions) the clicks.
            var behaviours = cl < 0 ? order : order.Where(r => label[r] == 1f).ToArray();
            var seq = behaviours.Select(r => item[r]).ToArray();
            int[]? starts = null;
            if (plan.NeedsTimes && seq.Length > 0)
            {
                try { starts = DinProtocol.SessionStarts(behaviours.Select(r => time[r]).ToArray(), seq.Length, Sessions!.GapSeconds, 0); }
                catch (ArgumentException e) { throw new DataFormatException($"{path}: user '{rawUser}': {e.Message}"); }
            }
            UserSide? side = null;
            int clicksBefore = 0;
            for (int p = 0; p < order.Length; p++)
            {
                int r = order[p];
                if (side is null || profileColumns.Count > 0)
                {
                    try { side = User(plan, rawUser, f => t.Text(r, profileColumns[f]), f => f); }
                    catch (RequestException e) { throw new DataFormatException($"{t.Where(r, profileColumns[e.Field])}: '{e.Field}' {e.Message}"); }
                }
                int k = p;
                if (cl >= 0)
                {
                    while (clicksBefore < behaviours.Length && time[behaviours[clicksBefore]] < time[r]) clicksBefore++;
                    k = clicksBefore;
                }
                FillRow(d, r, plan, side, item[r], seq, k, starts);
                d.Labels[r] = label[r];
                d.UserIds[r] = fileUser;
            }
        }
        try { d.CheckIds(); }
        catch (SchemaException e) { throw new InvalidOperationException($"{FileName} does not fit the model: {e.Message}"); }
        return new RawRows(d, users, rawItems, cl >= 0);
    }

    private RawRows ReadSeedCsv(string path, FeatureSchema schema)
    {
        var t = CsvTable.Read(path);
        var d = MovieLensSeed.Build(t, _seedEncoders ??= SeedEncoders(), schema, requireLabels: false);
        int cu = t.Column("userId"), cm = t.Column("movieId");
        var users = Enumerable.Range(0, t.Count).Select(r => t.Text(r, cu)).ToArray();
        var items = Enumerable.Range(0, t.Count).Select(r => t.Text(r, cm)).ToArray();
        return new RawRows(d, users, items, t.Header.Contains("label"));
    }

    /// <summary>The seed protocol's fitted encoders, rebuilt from the vocabularies they were saved as (<see cref="MovieLensSeed.Spec"/>).</summary>
    private MovieLensSeed.Encoders SeedEncoders()
    {
        CategoryEncoder Enc(string name)
        {
            if (!Vocabularies.TryGetValue(name, out var v)) throw new InvalidOperationException($"{FileName}: the movielens_seed layout needs vocabulary '{name}'");
            var e = new CategoryEncoder();
            for (int id = 0; id < v.Values.Count; id++) if (v.Values[id] is { } raw) e.Vocabulary[raw] = id;
            return e;
        }
        var cats = MovieLensSeed.CategoricalColumns.ToDictionary(c => c, Enc);
        if (!Numeric.TryGetValue("age", out var ages)) throw new InvalidOperationException($"{FileName}: the movielens_seed layout needs numeric transform 'age'");
        return new MovieLensSeed.Encoders(cats, Enc(MovieLensSeed.GenresColumn), ages);
    }
}
