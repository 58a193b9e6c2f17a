"""The course text's own training recipe, as a baseline: pad every example to 512 tokens, loss on all tokens.

Only the API names are updated for transformers 5 (`dtype`, `processing_class`). Usage:
    python benchmarks/course_text_recipe.py MODEL_DIR DATA.jsonl OUT_DIR   -> prints one JSON line
"""

import json
import sys
import time

from datasets import load_dataset
from peft import LoraConfig, get_peft_model
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    Trainer,
    TrainingArguments,
)

from lora_course.memory import peak_rss_mb  # measured the same way as `lora-course train`

model_dir, data_path, out_dir = sys.argv[1:4]
tokenizer = AutoTokenizer.from_pretrained(model_dir)
tokenizer.pad_token = tokenizer.eos_token
model = AutoModelForCausalLM.from_pretrained(model_dir)
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"],
                                         task_type="CAUSAL_LM"))


def tokenize(example):
    text = f"### User: {example['input']}\n### Assistant: {example['output']}"
    return tokenizer(text, truncation=True, max_length=512, padding="max_length")


dataset = load_dataset("json", data_files=data_path, split="train")
dataset = dataset.map(tokenize, remove_columns=dataset.column_names)
args = TrainingArguments(output_dir=out_dir, num_train_epochs=3, per_device_train_batch_size=2, learning_rate=2e-4,
                         logging_steps=1, save_strategy="no", report_to=[], seed=42, disable_tqdm=True)
trainer = Trainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                  data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False))
start = time.perf_counter()
trainer.train()
wall = time.perf_counter() - start
losses = [(log["epoch"], log["loss"]) for log in trainer.state.log_history if "loss" in log]
print(json.dumps({"wall_seconds": wall, "losses": losses,
                  "peak_rss_mb": peak_rss_mb()}))
