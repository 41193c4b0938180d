using DeepInterest.Data.Batches;
using DeepInterest.Data.Readers;
using DeepInterest.Data.Schema;
using DeepInterest.Data.Serving;

namespace DeepInterest.Data.Protocols;

/// <summary>Column names of a behaviour log CSV (<see cref="BehaviourLog"/>).</summary>
public sealed record BehaviourLogColumns(string User = "user", string Item = "item", string Time = "time", string? Category = null, string? Label = null);

/// <summary>
/// Any behaviour log CSV with a header — one row per (user, item, time[, category][, label]) —
/// turned into samples so users can bring their own data. Raw ids are strings, numbered in order
/// of first appearance (0 stays padding). Without a label column every row is a click and the DIN
/// protocol applies (<see cref="DinProtocol.Build"/>: each user's k-th behaviour is a positive with
/// one sampled unseen negative; train, validation and test by position). With a label column every
/// row is one impression: its history is the same user's earlier clicks (label 1, strictly earlier
/// time, the most recent <see cref="DinProtocolOptions.MaxHistory"/>); rows are split by time —
/// the latest 10% of impressions are test, the 10% before them validation.
/// </summary>
public static class BehaviourLog
{
    /// <summary>The per-user sequences, and <see cref="Raw"/>: the raw strings of the ids, for <see cref="DinProtocol.Build"/>'s serving spec.</summary>
    public sealed record Log(List<int[]?> Sequences, int[] CategoryOf, List<long[]?> Times, int Rows)
    {
        public RawIds Raw { get; init; } = new("behaviour_log", [], [], []);
    }

    private sealed record Row(int User, int Item, long Time, float Label);

    /// <summary>Reads the CSV; bad rows are errors naming file:line:column.</summary>
    private static (List<Row> Rows, int[] CategoryOf, int Users, int Items, RawIds Raw) ReadRows(string path, BehaviourLogColumns c, char delimiter)
    {
        var t = CsvTable.Read(path, delimiter);
        int cu = t.Column(c.User), ci = t.Column(c.Item), ct = t.Column(c.Time);
        int cc = c.Category is null ? -1 : t.Column(c.Category), cl = c.Label is null ? -1 : t.Column(c.Label);
        if (t.Count == 0) throw new DataFormatException($"{path}: no rows after the header");
        var users = new Dictionary<string, int>(); var items = new Dictionary<string, int>(); var cats = new Dictionary<string, int>();
        var catOfItem = new List<int> { 0 };
        var rows = new List<Row>(t.Count);
        for (int r = 0; r < t.Count; r++)
        {
            string us = t.Text(r, cu), its = t.Text(r, ci);
            if (us.Length == 0) throw new DataFormatException($"{t.Where(r, cu)}: '{c.User}' is empty");
            if (its.Length == 0) throw new DataFormatException($"{t.Where(r, ci)}: '{c.Item}' is empty");
            long time = t.Id(r, ct);
            if (!users.TryGetValue(us, out int u)) users[us] = u = users.Count + 1;
            if (!items.TryGetValue(its, out int it)) { items[its] = it = items.Count + 1; catOfItem.Add(0); }
            if (cc >= 0)
            {
                var cs = t.Text(r, cc);
                if (!cats.TryGetValue(cs, out int cat)) cats[cs] = cat = cats.Count + 1;
                if (catOfItem[it] != 0 && catOfItem[it] != cat) throw new DataFormatException($"{t.Where(r, cc)}: item '{its}' has category '{cs}' here but another one earlier");
                catOfItem[it] = cat;
            }
            else catOfItem[it] = 1;
            float label = 1f;
            if (cl >= 0)
            {
                label = t.Float(r, cl);
                if (label is not (0f or 1f)) throw new DataFormatException($"{t.Where(r, cl)}: '{c.Label}' expected 0 or 1, got '{t.Text(r, cl)}'");
            }
            rows.Add(new Row(u, it, time, label));
        }
        // Without a category column every item has category 1, named "(none)".
        var raw = new RawIds("behaviour_log", Names(users), Names(items), cc >= 0 ? Names(cats) : [null, "(none)"]);
        return (rows, catOfItem.ToArray(), users.Count, items.Count, raw);

        static string?[] Names(Dictionary<string, int> ids)
        {
            var names = new string?[ids.Count + 1];
            foreach (var (name, id) in ids) names[id] = name;
            return names;
        }
    }

    /// <summary>Per-user click sequences in time order (ties keep file order), for <see cref="DinProtocol.Build"/>.</summary>
    public static Log Read(string path, BehaviourLogColumns columns, char delimiter = ',')
    {
        if (columns.Label is not null) throw new ArgumentException("a log with a label column is built with BuildLabeled, not Read");
        var (rows, categoryOf, users, _, raw) = ReadRows(path, columns, delimiter);
        var (seqs, times) = DinProtocol.Sequences(rows.Select(x => (x.User, x.Item, x.Time, x.Time)), users);
        return new Log(seqs, categoryOf, times, rows.Count) { Raw = raw };
    }

    /// <summary>Impressions with labels → train/valid/test by time (see the class summary); schema as <see cref="DinProtocol.Schema"/>.</summary>
    public static DinProtocol.Result BuildLabeled(string path, BehaviourLogColumns columns, DinProtocolOptions o, char delimiter = ',')
    {
        if (columns.Label is null) throw new ArgumentException("BuildLabeled needs a label column");
        o.Validate();
        var (rows, categoryOf, users, items, raw) = ReadRows(path, columns, delimiter);
        var schema = DinProtocol.Schema(users + 1, items + 1, categoryOf.Max() + 1, o with { NegativeHistory = false, MaxSessions = 0 });
        var byTime = rows.OrderBy(x => x.Time).ToList();                      // stable: ties keep file order
        int nTest = Math.Max(1, rows.Count / 10), nValid = Math.Max(1, rows.Count / 10), nTrain = rows.Count - nTest - nValid;
        if (nTrain < 1) throw new DataFormatException($"{path}: {rows.Count} rows are too few to split into train, validation and test");
        var sets = new[] { new CtrDataset(schema, nTrain), new CtrDataset(schema, nValid), new CtrDataset(schema, nTest) };
        // Each user's clicks so far, in time order; a row sees only clicks strictly before its time.
        var clicks = new Dictionary<int, List<(int Item, long Time)>>();
        for (int i = 0; i < byTime.Count; i++)
        {
            var x = byTime[i];
            var d = i < nTrain ? sets[0] : i < nTrain + nValid ? sets[1] : sets[2];
            int r = i < nTrain ? i : i < nTrain + nValid ? i - nTrain : i - nTrain - nValid;
            d.Sparse["user"][r] = x.User; d.Sparse["item"][r] = x.Item; d.Sparse["cate"][r] = categoryOf[x.Item];
            d.Labels[r] = x.Label; d.UserIds[r] = x.User;
            var past = clicks.TryGetValue(x.User, out var l) ? l : clicks[x.User] = new();
            int end = past.Count;
            while (end > 0 && past[end - 1].Time >= x.Time) end--;
            int start = Math.Max(0, end - o.MaxHistory), len = end - start;
            var hi = d.Sequences["hist_item"]; var hc = d.Sequences["hist_cate"];
            hi.Lengths[r] = hc.Lengths[r] = len;
            for (int k = 0; k < len; k++)
            {
                hi.Ids[r * o.MaxHistory + k] = past[start + k].Item;
                hc.Ids[r * o.MaxHistory + k] = categoryOf[past[start + k].Item];
            }
            if (x.Label == 1f) past.Add((x.Item, x.Time));
        }
        return new DinProtocol.Result(sets[0], sets[1], sets[2], users, items, categoryOf.Skip(1).Distinct().Count())
        {
            Spec = ServingSpec.ForDinProtocol(raw, categoryOf, o, impressions: true),
        };
    }
}
