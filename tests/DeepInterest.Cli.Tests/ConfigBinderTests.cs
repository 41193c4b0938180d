using DeepInterest.Models.Networks;
using DeepInterest.Cli.Config;

namespace DeepInterest.Cli.Tests;

public enum Flavor { Plain, ExtraSpicy }

public sealed class InnerCfg
{
    [Key("epochs")] public int Epochs { get; init; } = 3;
    [Key("learning_rate")] public float LearningRate { get; init; } = 0.001f;
    [Key("hidden")] public int[] Hidden { get; init; } = [32, 16];
    [Key("flavor")] public Flavor Flavor { get; init; }
    [Key("limit")] public int? Limit { get; init; }
}

public sealed class OuterCfg
{
    [Key("name")] public string Name { get; init; } = "x";
    [Key("train")] public InnerCfg Train { get; init; } = new();
    [Key("verbose")] public bool Verbose { get; init; }
}

public class ConfigBinderTests
{
    [Fact]
    public void BindsValuesAndKeepsDefaults()
    {
        var c = ConfigBinder.Load<OuterCfg>("name: din\ntrain:\n  epochs: 7\n  hidden: [8, 4]\n  flavor: extra_spicy\n", "a.yaml", []);
        Assert.Equal("din", c.Name);
        Assert.Equal(7, c.Train.Epochs);
        Assert.Equal(0.001f, c.Train.LearningRate);
        Assert.Equal([8, 4], c.Train.Hidden);
        Assert.Equal(Flavor.ExtraSpicy, c.Train.Flavor);
        Assert.Null(c.Train.Limit);
    }

    [Fact]
    public void UnknownKeyNamesFileLineColumnAndSuggests()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.Load<OuterCfg>("name: din\ntrain:\n  lerning_rate: 0.1\n", "c.yaml", []));
        Assert.Equal("c.yaml:3:3: unknown key 'train.lerning_rate'; did you mean 'learning_rate'?", e.Message);
    }

    [Fact]
    public void BadValuesNameTheKeyAndType()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.Load<OuterCfg>("train:\n  epochs: many\n", "c.yaml", []));
        Assert.Equal("c.yaml:2:11: 'train.epochs' must be an integer, got 'many'", e.Message);
        e = Assert.Throws<ConfigException>(() => ConfigBinder.Load<OuterCfg>("train:\n  flavor: spicy\n", "c.yaml", []));
        Assert.Contains("must be one of plain, extra_spicy, got 'spicy'", e.Message);
        e = Assert.Throws<ConfigException>(() => ConfigBinder.Load<OuterCfg>("train: [1, 2]\n", "c.yaml", []));
        Assert.Contains("'train' must be a mapping", e.Message);
        e = Assert.Throws<ConfigException>(() => ConfigBinder.Load<OuterCfg>("train:\n  epochs: [1\n", "c.yaml", []));
        Assert.StartsWith("c.yaml:", e.Message);
        Assert.Contains("invalid YAML", e.Message);
    }

    [Fact]
    public void OverridesApplyWithTheSameChecks()
    {
        var c = ConfigBinder.Load<OuterCfg>("train:\n  epochs: 2\n", "c.yaml", ["train.epochs=9", "train.hidden=[4,2]", "verbose=true"]);
        Assert.Equal(9, c.Train.Epochs);
        Assert.Equal([4, 2], c.Train.Hidden);
        Assert.True(c.Verbose);
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.Load<OuterCfg>("", "c.yaml", ["train.epoch=3"]));
        Assert.Equal("--set train.epoch=3: unknown key 'train.epoch'; did you mean 'epochs'?", e.Message);
        Assert.Throws<ConfigException>(() => ConfigBinder.Load<OuterCfg>("", "c.yaml", ["noequals"]));
    }

    [Fact]
    public void MissingFileIsOneLine()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.LoadFile<OuterCfg>("/nonexistent/x.yaml", []));
        Assert.Equal("/nonexistent/x.yaml: config file not found", e.Message);
    }
}

/// <summary>The <c>model</c> section is bound to the options record of the kind it names (ModelRegistry).</summary>
public class ModelSectionTests
{
    private static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "DeepInterest.slnx"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    public static TheoryData<string> ShippedConfigs()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(RepoRoot(), "configs"), "*.yaml").Order()) data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(ShippedConfigs))]
    public void EveryShippedConfigBindsToItsKind(string file)
    {
        var c = ConfigBinder.LoadFile<TrainConfig>(Path.Combine(RepoRoot(), "configs", file), []);
        var kind = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(Path.Combine(RepoRoot(), "configs", file)), @"(?m)^  kind: (\w+)").Groups[1].Value;
        Assert.Equal(kind, c.Model.Kind);
        c.ModelOptions().Validate();
    }

    [Fact]
    public void KindChoosesTheRecordAndItsKeys()
    {
        var c = ConfigBinder.Load<TrainConfig>("model:\n  kind: dien\n  evolution: agru\n  aux_hidden: [8]\ntrain:\n  seed: 7\n", "m.yaml", []);
        var o = Assert.IsType<DienOptions>(c.Model);
        Assert.Equal(EvolutionKind.Agru, o.Evolution);
        Assert.Equal(7UL, c.ModelOptions().Seed);
        Assert.IsType<DinOptions>(ConfigBinder.Load<TrainConfig>("", "m.yaml", []).Model);   // the default kind
    }

    [Fact]
    public void AKeyOfAnotherKindNamesTheKindsThatHaveIt()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.Load<TrainConfig>("model:\n  kind: din\n  evolution: agru\n", "m.yaml", []));
        Assert.Equal("m.yaml:3:3: 'model.evolution' is an option of dien, not of din (set by 'kind')", e.Message);
        e = Assert.Throws<ConfigException>(() => ConfigBinder.Load<TrainConfig>("model:\n  kind: base\n  attention_hidden: [8]\n", "m.yaml", []));
        Assert.Contains("'model.attention_hidden' is an option of din, dien, dsin, not of base", e.Message);
        e = Assert.Throws<ConfigException>(() => ConfigBinder.Load<TrainConfig>("model:\n  kind: din\n  mlp_hiden: [8]\n", "m.yaml", []));
        Assert.Equal("m.yaml:3:3: unknown key 'model.mlp_hiden' for kind din; did you mean 'mlp_hidden'?", e.Message);
    }

    [Fact]
    public void AnUnknownKindIsAnErrorWithTheKinds()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.Load<TrainConfig>("model:\n  kind: dienn\n", "m.yaml", []));
        Assert.Equal("m.yaml:2:9: 'model.kind' must be one of base, wide_deep, pnn, deepfm, din, dien, dsin, got 'dienn'; did you mean 'dien'?", e.Message);
        e = Assert.Throws<ConfigException>(() => ConfigBinder.Load<TrainConfig>("", "m.yaml", ["model.kind=bst"]));
        Assert.StartsWith("--set model.kind=bst: 'model.kind' must be one of base,", e.Message);
    }

    [Fact]
    public void OverridesMayNameTheKindAfterItsKeys()
    {
        var c = ConfigBinder.Load<TrainConfig>("model:\n  kind: din\n", "m.yaml", ["model.evolution=aigru", "model.kind=dien"]);
        Assert.Equal(EvolutionKind.Aigru, Assert.IsType<DienOptions>(c.Model).Evolution);
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.Load<TrainConfig>("", "m.yaml", ["model.evolution=aigru"]));
        Assert.Equal("--set model.evolution=aigru: 'model.evolution' is an option of dien, not of din (set by 'kind')", e.Message);
    }
}
