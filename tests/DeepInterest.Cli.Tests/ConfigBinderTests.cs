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
