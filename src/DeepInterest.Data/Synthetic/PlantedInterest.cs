using DeepInterest.Data.Batches;
using DeepInterest.Data.Schema;

namespace DeepInterest.Data.Synthetic;

/// <summary>Sizes of the <see cref="PlantedInterest"/> generator.</summary>
public sealed record PlantedInterestOptions(int Samples = 40_000, int Users = 20_000, int Items = 5_000, int Categories = 100,
    int InterestsPerUser = 4, int MinHistory = 5, int MaxHistory = 40, float LabelNoise = 0.05f, int EmbeddingDim = 16, ulong Seed = 7, bool NegativeHistory = false)
{
    public PlantedInterestOptions Validate()
    {
        if (Samples < 1 || Users < 1 || Items < Categories || Categories < InterestsPerUser + 1 || InterestsPerUser < 1)
            throw new ArgumentException("PlantedInterest: need samples, users ≥ 1, items ≥ categories > interests per user ≥ 1.");
        if (MinHistory < 1 || MaxHistory < MinHistory) throw new ArgumentException($"PlantedInterest: history lengths must satisfy 1 ≤ min ≤ max, got [{MinHistory}, {MaxHistory}].");
        if (LabelNoise is < 0 or > 0.5f) throw new ArgumentException($"PlantedInterest: label noise must be in [0, 0.5], got {LabelNoise}.");
        return this;
    }
}

/// <summary>
/// Behaviour logs with a planted signal that only attention can exploit well: every user has a few
/// interest categories and a history of items from them; a candidate is clicked when its category is
/// one of the user's interests (with some label noise). Users are many and appear rarely, so an id
/// embedding cannot memorize them: a model must match the candidate against the history. Sum
/// pooling blurs several interests into one vector; DIN's attention can pick out the matching one.
/// Features: user, item, cate (targets) and hist_item, hist_cate (histories sharing the item/cate tables),
/// plus neg_hist_item, neg_hist_cate with <see cref="PlantedInterestOptions.NegativeHistory"/> (DIEN).
/// </summary>
public static class PlantedInterest
{
    public static FeatureSchema Schema(PlantedInterestOptions o) => new FeatureSchema
    {
        Tables = [new("user", o.Users + 1, o.EmbeddingDim), new("item", o.Items + 1, o.EmbeddingDim), new("cate", o.Categories + 1, o.EmbeddingDim)],
        Sparse = [new("user", "user"), new("item", "item"), new("cate", "cate")],
        Sequences = o.NegativeHistory
            ? [new("hist_item", "item", o.MaxHistory), new("hist_cate", "cate", o.MaxHistory), new("neg_hist_item", "item", o.MaxHistory), new("neg_hist_cate", "cate", o.MaxHistory)]
            : [new("hist_item", "item", o.MaxHistory), new("hist_cate", "cate", o.MaxHistory)],
        Groups = o.NegativeHistory
            ? [new("behaviour", [new AttentionPair("item", "hist_item", "neg_hist_item"), new AttentionPair("cate", "hist_cate", "neg_hist_cate")])]
            : [new("behaviour", [new AttentionPair("item", "hist_item"), new AttentionPair("cate", "hist_cate")])],
    }.Validate();

    /// <summary>Generates <see cref="PlantedInterestOptions.Samples"/> samples, half clicked before noise.</summary>
    public static CtrDataset Generate(PlantedInterestOptions o)
    {
        o.Validate();
        var schema = Schema(o);
        var d = new CtrDataset(schema, o.Samples);
        var rng = new SplitMix(o.Seed);
        // Item i (1-based) belongs to category 1 + (i − 1) % C, so every category has items.
        int CategoryOf(int item) => 1 + (item - 1) % o.Categories;
        int ItemIn(int cat) { int perCat = (o.Items - cat) / o.Categories + 1; return cat + o.Categories * rng.Next(perCat); }
        var interests = new int[o.InterestsPerUser];
        var hi = d.Sequences["hist_item"]; var hc = d.Sequences["hist_cate"];
        for (int r = 0; r < o.Samples; r++)
        {
            int user = 1 + rng.Next(o.Users);
            var urng = new SplitMix(o.Seed ^ ((ulong)user * 0x9E3779B97F4A7C15UL));
            for (int k = 0; k < interests.Length; k++)
            {
                int c;
                do c = 1 + urng.Next(o.Categories); while (Array.IndexOf(interests, c, 0, k) >= 0);
                interests[k] = c;
            }
            int len = o.MinHistory + rng.Next(o.MaxHistory - o.MinHistory + 1);
            for (int t = 0; t < len; t++)
            {
                int item = ItemIn(interests[rng.Next(interests.Length)]);
                hi.Ids[r * o.MaxHistory + t] = item;
                hc.Ids[r * o.MaxHistory + t] = CategoryOf(item);
            }
            hi.Lengths[r] = hc.Lengths[r] = len;
            if (o.NegativeHistory)
            {
                // One negative per behaviour: a uniformly drawn item other than the clicked one (DIEN §4.2).
                var ni = d.Sequences["neg_hist_item"]; var nc = d.Sequences["neg_hist_cate"];
                for (int t = 0; t < len; t++)
                {
                    int item;
                    do item = 1 + rng.Next(o.Items); while (item == hi.Ids[r * o.MaxHistory + t]);
                    ni.Ids[r * o.MaxHistory + t] = item;
                    nc.Ids[r * o.MaxHistory + t] = CategoryOf(item);
                }
                ni.Lengths[r] = nc.Lengths[r] = len;
            }
            bool positive = rng.Next(2) == 0;
            int cat;
            if (positive) cat = interests[rng.Next(interests.Length)];
            else do cat = 1 + rng.Next(o.Categories); while (Array.IndexOf(interests, cat) >= 0);
            int target = ItemIn(cat);
            d.Sparse["user"][r] = user;
            d.Sparse["item"][r] = target;
            d.Sparse["cate"][r] = cat;
            d.UserIds[r] = user;
            bool flip = rng.NextDouble() < o.LabelNoise;
            d.Labels[r] = positive ^ flip ? 1f : 0f;
            Array.Clear(interests);
        }
        return d;
    }

    /// <summary>A tiny reproducible generator (SplitMix64), independent of the engine.</summary>
    private struct SplitMix(ulong seed)
    {
        private ulong _s = seed;
        public ulong NextU64()
        {
            _s += 0x9E3779B97F4A7C15UL;
            ulong z = _s; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL; z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
        public int Next(int n) => (int)(NextU64() % (ulong)n);
        public double NextDouble() => (NextU64() >> 11) * (1.0 / (1UL << 53));
    }
}
