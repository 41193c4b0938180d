using DeepInterest.Data.Batches;
using DeepInterest.Data.Encoders;
using DeepInterest.Data.Readers;
using DeepInterest.Data.Schema;

namespace DeepInterest.Data.Protocols;

/// <summary>
/// The DSIN authors' model input for the Taobao display-ad data, as in
/// <c>taobao-display-ad/paddlerec_dsin_sample.csv</c>: profile and ad ids, a standardized price, and
/// five sessions <c>sess{k}_cate</c>/<c>sess{k}_brand</c> of at most ten '|'-joined ids, 0-padded at
/// the end, <c>sess0</c> being the most recent, <c>sess_count</c> the number of non-empty ones.
/// Sessions are stored oldest first (the Bi-LSTM reads them in time order). Ids are re-encoded per
/// table (0 = padding, 1 = unknown): the ad's <c>cate_id</c> shares its table with the session
/// categories and <c>brand</c> with the session brands, as in the authors' code.
/// </summary>
public static class TaobaoDsin
{
    public const int Sessions = 5, SessionLength = 10;

    private static readonly string[] Profile = ["userid", "adgroup_id", "pid", "cms_segid", "cms_group_id", "final_gender_code", "age_level",
        "pvalue_level", "shopping_level", "occupation", "new_user_class_level", "campaign_id", "customer"];

    /// <summary>Reads the file; encoders are fitted on it unless given (fit on train, reuse for test).</summary>
    public static (CtrDataset Data, Dictionary<string, CategoryEncoder> Encoders) Read(string path, int embeddingDim = 8, Dictionary<string, CategoryEncoder>? encoders = null)
    {
        var t = CsvTable.Read(path);
        int Col(string n) => t.Column(n);
        var sessCate = Enumerable.Range(0, Sessions).Select(k => Col($"sess{k}_cate")).ToArray();
        var sessBrand = Enumerable.Range(0, Sessions).Select(k => Col($"sess{k}_brand")).ToArray();
        int count = Col("sess_count"), label = Col("label"), price = Col("price");
        // Parse every session once: raw ids per (row, session), most recent session first as in the file.
        var raw = new (string[] Cate, string[] Brand)[t.Count, Sessions];
        var counts = new int[t.Count];
        for (int r = 0; r < t.Count; r++)
        {
            long n = t.Id(r, count);
            if (n > Sessions) throw new DataFormatException($"{t.Where(r, count)}: 'sess_count' is {n}, more than {Sessions}");
            counts[r] = (int)n;
            for (int k = 0; k < Sessions; k++)
            {
                var c = Real(t, r, sessCate[k]); var b = Real(t, r, sessBrand[k]);
                if (c.Length != b.Length) throw new DataFormatException($"{t.Where(r, sessBrand[k])}: session {k} has {c.Length} categories but {b.Length} brands");
                if ((k < n) != (c.Length > 0)) throw new DataFormatException($"{t.Where(r, sessCate[k])}: 'sess_count' is {n} but session {k} is {(c.Length > 0 ? "non-empty" : "empty")}");
                raw[r, k] = (c, b);
            }
        }
        if (encoders is null)
        {
            encoders = Profile.ToDictionary(p => p, p => new CategoryEncoder().Fit(Enumerable.Range(0, t.Count).Select(r => t.Text(r, Col(p)))));
            var cates = Enumerable.Range(0, t.Count).Select(r => t.Text(r, Col("cate_id"))).Concat(Flat(raw, 0));
            var brands = Enumerable.Range(0, t.Count).Select(r => t.Text(r, Col("brand"))).Concat(Flat(raw, 1));
            encoders["cate"] = new CategoryEncoder().Fit(cates);
            encoders["brand"] = new CategoryEncoder().Fit(brands);
        }
        var schema = new FeatureSchema
        {
            Tables = [.. Profile.Select(p => new EmbeddingTable(p, encoders[p].Size, embeddingDim)),
                new("cate", encoders["cate"].Size, embeddingDim), new("brand", encoders["brand"].Size, embeddingDim)],
            Sparse = [.. Profile.Select(p => new SparseFeature(p, p)), new("cate_id", "cate"), new("brand", "brand")],
            Dense = [new("price")],
            Sessions = [new("sess_cate", "cate", Sessions, SessionLength), new("sess_brand", "brand", Sessions, SessionLength)],
            SessionGroups = [new("sessions", [new SessionPair("cate_id", "sess_cate"), new SessionPair("brand", "sess_brand")])],
        }.Validate();
        var d = new CtrDataset(schema, t.Count);
        var sc = d.Sessions["sess_cate"]; var sb = d.Sessions["sess_brand"];
        for (int r = 0; r < t.Count; r++)
        {
            foreach (var p in Profile) d.Sparse[p][r] = encoders[p].Encode(t.Text(r, Col(p)));
            d.Sparse["cate_id"][r] = encoders["cate"].Encode(t.Text(r, Col("cate_id")));
            d.Sparse["brand"][r] = encoders["brand"].Encode(t.Text(r, Col("brand")));
            d.Dense["price"][r] = t.Float(r, price);
            float y = t.Float(r, label);
            if (y is not (0f or 1f)) throw new DataFormatException($"{t.Where(r, label)}: 'label' must be 0 or 1, got {y}");
            d.Labels[r] = y;
            d.UserIds[r] = d.Sparse["userid"][r];
            int n = counts[r];
            sc.Counts[r] = sb.Counts[r] = n;
            for (int k = 0; k < n; k++)
            {
                var (c, b) = raw[r, n - 1 - k];                          // oldest first
                sc.Lengths[r * Sessions + k] = sb.Lengths[r * Sessions + k] = c.Length;
                for (int j = 0; j < c.Length; j++)
                {
                    sc.Ids[(r * Sessions + k) * SessionLength + j] = encoders["cate"].Encode(c[j]);
                    sb.Ids[(r * Sessions + k) * SessionLength + j] = encoders["brand"].Encode(b[j]);
                }
            }
        }
        d.CheckIds();
        return (d, encoders);
    }

    private static IEnumerable<string> Flat((string[] Cate, string[] Brand)[,] raw, int which)
    {
        foreach (var s in raw) foreach (var v in which == 0 ? s.Cate : s.Brand) yield return v;
    }

    /// <summary>The ids of one session cell before its trailing zero padding; a zero inside the session is an error.</summary>
    private static string[] Real(CsvTable t, int r, int col)
    {
        var items = t.List(r, col, '|', SessionLength, truncate: false);
        int n = items.Length;
        while (n > 0 && items[n - 1] == "0") n--;
        for (int j = 0; j < n; j++)
        {
            if (items[j] == "0" || !long.TryParse(items[j], out var v) || v < 0)
                throw new DataFormatException($"{t.Where(r, col)}: '{t.Header[col]}' expected non-negative ids padded with trailing zeros, got '{t.Text(r, col)}'");
        }
        return items[..n];
    }
}
