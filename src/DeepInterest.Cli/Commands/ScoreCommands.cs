using System.CommandLine;
using System.Globalization;
using System.Text;
using DeepInterest.Data.Batches;
using DeepInterest.Data.Protocols;
using DeepInterest.Data.Readers;
using DeepInterest.Engine.IO;
using DeepInterest.Models;
using DeepInterest.Models.Metrics;
using DeepInterest.Models.Networks;
using DeepInterest.Models.Training;
using Spectre.Console;

namespace DeepInterest.Cli.Commands;

/// <summary>Loads a model folder with the encoders it was trained with and encodes raw CSV rows for it.</summary>
public static class ModelData
{
    public const string EncodersFile = "encoders.json";

    /// <summary>
    /// The model and the data to score: a prepared split (<c>.safetensors</c> from <c>prepare</c>,
    /// whose features must be the model's) or raw CSV rows encoded with the model's encoders.
    /// </summary>
    public static (CtrModel Model, CtrDataset Data) Load(string modelDir, string csv)
    {
        var model = ModelStore.Load(modelDir);
        if (csv.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            var data = Data.Storage.DatasetCache.Load(csv);
            if (data.Schema.ToJson() != model.Schema.ToJson())
                throw new ModelFormatException($"{csv}: its features differ from the model's in {modelDir} (prepare the data with the model's config)");
            return (model, data);
        }
        var encPath = Path.Combine(modelDir, EncodersFile);
        if (!File.Exists(encPath))
            throw new ModelFormatException($"{modelDir}: {EncodersFile} is missing; scoring raw rows needs a model trained on CSV data (data.protocol: movielens_seed)");
        var enc = MovieLensSeed.Encoders.FromJson(File.ReadAllText(encPath), encPath);
        return (model, MovieLensSeed.Encode(csv, enc, model.Schema));
    }
}

/// <summary><c>evaluate</c> and <c>predict</c>.</summary>
public static class ScoreCommands
{
    public static Command Evaluate()
    {
        var model = new Option<string>("--model") { Description = "Model folder (DIR/model from train)", Required = true };
        var data = new Option<string>("--data") { Description = "CSV in the training data's format, with labels", Required = true };
        var cmd = new Command("evaluate", "AUC, GAUC and logloss of a saved model on a labelled CSV") { model, data };
        cmd.SetAction(p =>
        {
            var (m, d) = ModelData.Load(p.GetValue(model)!, p.GetValue(data)!);
            var r = Predictor.Evaluate(m, d);
            var t = new Table().AddColumns("rows", "AUC", "GAUC", "logloss");
            t.AddRow($"{r.Samples:N0}", $"{r.Auc:F4}", double.IsNaN(r.Gauc) ? "n/a (no user with both labels)" : $"{r.Gauc:F4}", $"{r.LogLoss:F4}");
            AnsiConsole.Write(t);
            return 0;
        });
        return cmd;
    }

    public static Command Predict()
    {
        var model = new Option<string>("--model") { Description = "Model folder (DIR/model from train)", Required = true };
        var data = new Option<string>("--data") { Description = "CSV in the training data's format (labels are read but not used)", Required = true };
        var outFile = new Option<string>("--out") { Description = "Output CSV: row, user_id, probability", Required = true };
        var cmd = new Command("predict", "Score every row of a CSV with a saved model") { model, data, outFile };
        cmd.SetAction(p =>
        {
            var (m, d) = ModelData.Load(p.GetValue(model)!, p.GetValue(data)!);
            var probs = Predictor.Predict(m, d);
            var sb = new StringBuilder("row,user_id,probability\n");
            for (int i = 0; i < probs.Length; i++)
                sb.Append(CultureInfo.InvariantCulture, $"{i},{d.UserIds[i]},{probs[i]:R}\n");
            AtomicFile.WriteAllText(p.GetValue(outFile)!, sb.ToString());
            AnsiConsole.MarkupLine($"scored {probs.Length:N0} rows → {p.GetValue(outFile)}");
            return 0;
        });
        return cmd;
    }
}
