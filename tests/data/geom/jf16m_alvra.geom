; SwissFEL Alvra JF16M (JF07T32V01), 32 modules of 1030 x 514 with gap pixels,
; geometry from jungfrau_utils (gap pixels and double pixels expanded).
; Detector distance from the motor readback; edit clen for each beamtime.

photon_energy = 12400
clen = 0.0925
adu_per_eV = 0.0000806
res = 13333.3
max_adu = 4000000
data = /data/JF07T32V01/data
dim0 = %
dim1 = ss
dim2 = fs
mask_file = /sf/alvra/config/jungfrau/pixel_mask_JF07T32V01.h5
mask = /pixel_mask
mask_good = 0x0
mask_bad = 0xffffffff

m0/min_fs = 0
m0/max_fs = 1029
m0/min_ss = 0
m0/max_ss = 513
m0/fs = +1.000000x +0.000005y
m0/ss = +0.000005x -1.000000y
m0/corner_x = -2080.031
m0/corner_y = 2100.125

m1/min_fs = 0
m1/max_fs = 1029
m1/min_ss = 514
m1/max_ss = 1027
m1/fs = +1.000000x +0.000017y
m1/ss = +0.000017x -1.000000y
m1/corner_x = -2079.409
m1/corner_y = 1575.702

m2/min_fs = 0
m2/max_fs = 1029
m2/min_ss = 1028
m2/max_ss = 1541
m2/fs = +1.000000x +0.000002y
m2/ss = +0.000002x -1.000000y
m2/corner_x = -2080.137
m2/corner_y = 1050.225

m3/min_fs = 0
m3/max_fs = 1029
m3/min_ss = 1542
m3/max_ss = 2055
m3/fs = +1.000000x -0.000370y
m3/ss = -0.000370x -1.000000y
m3/corner_x = -2079.865
m3/corner_y = 524.500

m4/min_fs = 0
m4/max_fs = 1029
m4/min_ss = 2056
m4/max_ss = 2569
m4/fs = +1.000000x +0.000176y
m4/ss = +0.000176x -1.000000y
m4/corner_x = -2080.175
m4/corner_y = 0.248

m5/min_fs = 0
m5/max_fs = 1029
m5/min_ss = 2570
m5/max_ss = 3083
m5/fs = +1.000000x -0.000165y
m5/ss = -0.000165x -1.000000y
m5/corner_x = -2080.040
m5/corner_y = -524.340

m6/min_fs = 0
m6/max_fs = 1029
m6/min_ss = 3084
m6/max_ss = 3597
m6/fs = +1.000000x +0.000121y
m6/ss = +0.000121x -1.000000y
m6/corner_x = -2080.039
m6/corner_y = -1050.025

m7/min_fs = 0
m7/max_fs = 1029
m7/min_ss = 3598
m7/max_ss = 4111
m7/fs = +1.000000x +0.000023y
m7/ss = +0.000023x -1.000000y
m7/corner_x = -2081.013
m7/corner_y = -1574.798

m8/min_fs = 0
m8/max_fs = 1029
m8/min_ss = 4112
m8/max_ss = 4625
m8/fs = +1.000000x +0.000155y
m8/ss = +0.000155x -1.000000y
m8/corner_x = -1039.509
m8/corner_y = 2100.529

m9/min_fs = 0
m9/max_fs = 1029
m9/min_ss = 4626
m9/max_ss = 5139
m9/fs = +1.000000x -0.000650y
m9/ss = -0.000650x -1.000000y
m9/corner_x = -1039.555
m9/corner_y = 1575.164

m10/min_fs = 0
m10/max_fs = 1029
m10/min_ss = 5140
m10/max_ss = 5653
m10/fs = +1.000000x -0.000162y
m10/ss = -0.000162x -1.000000y
m10/corner_x = -1039.719
m10/corner_y = 1050.638

m11/min_fs = 0
m11/max_fs = 1029
m11/min_ss = 5654
m11/max_ss = 6167
m11/fs = +1.000000x +0.000250y
m11/ss = +0.000250x -1.000000y
m11/corner_x = -1039.753
m11/corner_y = 525.301

m12/min_fs = 0
m12/max_fs = 1029
m12/min_ss = 6168
m12/max_ss = 6681
m12/fs = +1.000000x -0.000150y
m12/ss = -0.000150x -1.000000y
m12/corner_x = -1039.500
m12/corner_y = 0.463

m13/min_fs = 0
m13/max_fs = 1029
m13/min_ss = 6682
m13/max_ss = 7195
m13/fs = +1.000000x -0.000251y
m13/ss = -0.000251x -1.000000y
m13/corner_x = -1040.388
m13/corner_y = -525.058

m14/min_fs = 0
m14/max_fs = 1029
m14/min_ss = 7196
m14/max_ss = 7709
m14/fs = +1.000000x -0.000573y
m14/ss = -0.000573x -1.000000y
m14/corner_x = -1039.184
m14/corner_y = -1050.110

m15/min_fs = 0
m15/max_fs = 1029
m15/min_ss = 7710
m15/max_ss = 8223
m15/fs = +1.000000x -0.000360y
m15/ss = -0.000360x -1.000000y
m15/corner_x = -1040.323
m15/corner_y = -1575.346

m16/min_fs = 0
m16/max_fs = 1029
m16/min_ss = 8224
m16/max_ss = 8737
m16/fs = +1.000000x +0.000054y
m16/ss = +0.000054x -1.000000y
m16/corner_x = -0.165
m16/corner_y = 2099.667

m17/min_fs = 0
m17/max_fs = 1029
m17/min_ss = 8738
m17/max_ss = 9251
m17/fs = +1.000000x +0.000496y
m17/ss = +0.000496x -1.000000y
m17/corner_x = -0.725
m17/corner_y = 1575.588

m18/min_fs = 0
m18/max_fs = 1029
m18/min_ss = 9252
m18/max_ss = 9765
m18/fs = +1.000000x +0.000645y
m18/ss = +0.000645x -1.000000y
m18/corner_x = 0.895
m18/corner_y = 1049.146

m19/min_fs = 0
m19/max_fs = 1029
m19/min_ss = 9766
m19/max_ss = 10279
m19/fs = +1.000000x -0.000446y
m19/ss = -0.000446x -1.000000y
m19/corner_x = -0.032
m19/corner_y = 525.323

m20/min_fs = 0
m20/max_fs = 1029
m20/min_ss = 10280
m20/max_ss = 10793
m20/fs = +1.000000x -0.000360y
m20/ss = -0.000360x -1.000000y
m20/corner_x = 0.460
m20/corner_y = -0.154

m21/min_fs = 0
m21/max_fs = 1029
m21/min_ss = 10794
m21/max_ss = 11307
m21/fs = +1.000000x +0.000325y
m21/ss = +0.000325x -1.000000y
m21/corner_x = -0.041
m21/corner_y = -523.994

m22/min_fs = 0
m22/max_fs = 1029
m22/min_ss = 11308
m22/max_ss = 11821
m22/fs = +1.000000x -0.000125y
m22/ss = -0.000125x -1.000000y
m22/corner_x = 0.004
m22/corner_y = -1050.245

m23/min_fs = 0
m23/max_fs = 1029
m23/min_ss = 11822
m23/max_ss = 12335
m23/fs = +1.000000x +0.000142y
m23/ss = +0.000142x -1.000000y
m23/corner_x = 0.621
m23/corner_y = -1575.084

m24/min_fs = 0
m24/max_fs = 1029
m24/min_ss = 12336
m24/max_ss = 12849
m24/fs = +1.000000x -0.000143y
m24/ss = -0.000143x -1.000000y
m24/corner_x = 1040.315
m24/corner_y = 2100.249

m25/min_fs = 0
m25/max_fs = 1029
m25/min_ss = 12850
m25/max_ss = 13363
m25/fs = +1.000000x -0.000226y
m25/ss = -0.000226x -1.000000y
m25/corner_x = 1039.352
m25/corner_y = 1575.066

m26/min_fs = 0
m26/max_fs = 1029
m26/min_ss = 13364
m26/max_ss = 13877
m26/fs = +1.000000x -0.000377y
m26/ss = -0.000377x -1.000000y
m26/corner_x = 1039.669
m26/corner_y = 1049.769

m27/min_fs = 0
m27/max_fs = 1029
m27/min_ss = 13878
m27/max_ss = 14391
m27/fs = +1.000000x +0.000263y
m27/ss = +0.000263x -1.000000y
m27/corner_x = 1039.830
m27/corner_y = 524.964

m28/min_fs = 0
m28/max_fs = 1029
m28/min_ss = 14392
m28/max_ss = 14905
m28/fs = +1.000000x -0.000254y
m28/ss = -0.000254x -1.000000y
m28/corner_x = 1039.735
m28/corner_y = 0.797

m29/min_fs = 0
m29/max_fs = 1029
m29/min_ss = 14906
m29/max_ss = 15419
m29/fs = +1.000000x -0.000020y
m29/ss = -0.000020x -1.000000y
m29/corner_x = 1039.383
m29/corner_y = -525.013

m30/min_fs = 0
m30/max_fs = 1029
m30/min_ss = 15420
m30/max_ss = 15933
m30/fs = +1.000000x -0.000300y
m30/ss = -0.000300x -1.000000y
m30/corner_x = 1039.880
m30/corner_y = -1050.186

m31/min_fs = 0
m31/max_fs = 1029
m31/min_ss = 15934
m31/max_ss = 16447
m31/fs = +1.000000x -0.000032y
m31/ss = -0.000032x -1.000000y
m31/corner_x = 1040.939
m31/corner_y = -1574.418

group_all = m0,m1,m2,m3,m4,m5,m6,m7,m8,m9,m10,m11,m12,m13,m14,m15,m16,m17,m18,m19,m20,m21,m22,m23,m24,m25,m26,m27,m28,m29,m30,m31

