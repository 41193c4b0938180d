using DeepInterest.Data.Schema;

namespace DeepInterest.Models.Networks;

/// <summary>A registered model kind: its name in configs and manifests, its options record and how to build it.</summary>
public sealed class ModelKindInfo
{
    private readonly Func<FeatureSchema, ModelOptions, CtrModel> _create;

    internal ModelKindInfo(string name, Type optionsType, string summary, Func<FeatureSchema, ModelOptions, CtrModel> create)
    {
        Name = name; OptionsType = optionsType; Summary = summary; _create = create;
    }

    /// <summary>The kind's name (<c>model.kind</c> in configs, <c>kind</c> in manifests).</summary>
    public string Name { get; }

    /// <summary>The sealed <see cref="ModelOptions"/> record of this kind.</summary>
    public Type OptionsType { get; }

    /// <summary>One line: the model and its source.</summary>
    public string Summary { get; }

    /// <summary>The kind's options with every default.</summary>
    public ModelOptions DefaultOptions() => (ModelOptions)Activator.CreateInstance(OptionsType)!;

    public CtrModel Create(FeatureSchema schema, ModelOptions options)
    {
        if (options.GetType() != OptionsType)
            throw new ArgumentException($"model kind '{Name}' takes {OptionsType.Name}, got {options.GetType().Name}");
        return _create(schema, options);
    }
}

/// <summary>
/// Every model kind the library builds. A new kind is one file (its options record and its model
/// class) plus one line here; configs, manifests, the trainer and the CLI find it through this list.
/// </summary>
public static class ModelRegistry
{
    private static readonly ModelKindInfo[] All =
    [
        Kind<BaseModelOptions>("base", "Embedding & MLP (DIN paper §4.2, Fig. 2 left)", (s, o) => new BaseModel(s, o)),
        Kind<WideDeepOptions>("wide_deep", "Wide & Deep (Cheng et al. 2016): a linear model over ids and target × behaviour crosses beside the MLP", (s, o) => new WideDeep(s, o)),
        Kind<PnnOptions>("pnn", "PNN with inner products (Qu et al. 2016)", (s, o) => new Pnn(s, o)),
        Kind<DeepFmOptions>("deepfm", "DeepFM (Guo et al. 2017): a factorization machine beside the MLP", (s, o) => new DeepFm(s, o)),
        Kind<DinOptions>("din", "Deep Interest Network (Zhou et al., KDD 2018)", (s, o) => new Din(s, o)),
        Kind<DienOptions>("dien", "Deep Interest Evolution Network (Zhou et al., AAAI 2019)", (s, o) => new Dien(s, o)),
        Kind<DsinOptions>("dsin", "Deep Session Interest Network (Feng et al., IJCAI 2019)", (s, o) => new Dsin(s, o)),
    ];

    private static ModelKindInfo Kind<TOptions>(string name, string summary, Func<FeatureSchema, TOptions, CtrModel> create) where TOptions : ModelOptions, new() =>
        new(name, typeof(TOptions), summary, (s, o) => create(s, (TOptions)o));

    /// <summary>Every registered kind, in the order of the papers' tables (baselines first).</summary>
    public static IReadOnlyList<ModelKindInfo> Kinds => All;

    /// <summary>The kind named <paramref name="name"/>, or null.</summary>
    public static ModelKindInfo? Find(string name) => Array.Find(All, k => k.Name == name);

    /// <summary>The kind named <paramref name="name"/>; an unknown name is an error that lists the known ones.</summary>
    public static ModelKindInfo Get(string name) =>
        Find(name) ?? throw new ArgumentException($"unknown model kind '{name}'; the kinds are {string.Join(", ", All.Select(k => k.Name))}");

    /// <summary>The kind whose options record <paramref name="options"/> is.</summary>
    public static ModelKindInfo For(ModelOptions options) =>
        Array.Find(All, k => k.OptionsType == options.GetType()) ?? throw new ArgumentException($"{options.GetType().Name} is not the options record of a registered model kind");

    /// <summary>Builds the model kind that <paramref name="options"/> belong to.</summary>
    public static CtrModel Create(FeatureSchema schema, ModelOptions options) => For(options).Create(schema, options);
}
