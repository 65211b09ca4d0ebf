# %%
!true
