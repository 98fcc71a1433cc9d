# Issue 14's many-schema recipe, shared by scripts/gpu_session.sh (step 5) and experiments/many-schema/ms_cpu.sh, so the GPU and
# CPU runs train the same thing: ADE + CoNLL04 + SciERC, FewRel and Wiki-ZSL drawn equally often, FewRel's
# unseen_10_seed_0 test and dev relations held out by Wikidata id, r 16 / alpha 32 like the shipped adapters.
MS_RECIPE=(--data kgc,fewrel,wikizsl --mix kgc=1,fewrel=1,wikizsl=1 --held-out fewrel/unseen_10_seed_0
           --icl 0 --prompt-style natural --max-length 1024 --rank 16 --alpha 32)
